"""Does a selection with less fold noise pick a better model? scikit-learn's CV estimator, its
folds drawn five ways, on the splits of ``bench.quality``.

``bench.quality`` compares regtune with scikit-learn's CV estimator on its own folds (contiguous,
unshuffled ``KFold`` of the non-test rows) and on the folds regtune drew; the two tuners score
the same on the same folds, and the difference on scikit-learn's own folds is which folds were
drawn. This measures whether any draw does better *in expectation*, which is what a default
could change: the same estimator (``bench.quality.sklearn_model``, ``--configurations`` of them)
on each split, with

* **own folds**: ``cv=5``, the estimator's default (the baseline of every difference);
* **5 folds, shuffled**: another random partition, as regtune draws its folds;
* **5 folds × 2 and × 3, repeated**: ``RepeatedKFold``, each configuration's score the mean of
  10 or 15 fits, the selection with the least fold noise (at 2× and 3× the fits);
* **10 folds, shuffled**.

Reported per dataset and draw: the mean test metric, its paired difference from the own folds ±
standard error over the splits, and the fits' CPU time over the own folds'.

    python -m bench.fold_draws [--quick] [--repeats SPLITS] [--datasets sparse,friedman1]
        [--configurations 300]
"""

from __future__ import annotations

import statistics
from typing import Any

from bench import harness
from bench.quality import _split, run_sklearn
from bench.quality_summary import METRIC

DRAWS = ("own folds", "5 folds, shuffled", "5 folds × 2, repeated", "5 folds × 3, repeated")
DRAWS_10 = "10 folds, shuffled"
CONFIGURATIONS = 300
QUICK_CONFIGURATIONS = 6
OFFSET = 1_000
"""Added to the split's seed for the draws' own seeds: a draw independent of the split's."""


def _cv(draw: str, task: str, seed: int) -> Any:
    from sklearn.model_selection import (
        KFold,
        RepeatedKFold,
        RepeatedStratifiedKFold,
        StratifiedKFold,
    )

    regression = task == "regression"
    seed += OFFSET
    if draw == "own folds":
        return 5
    if draw.endswith("repeated"):
        repeats = int(draw.split("× ")[1].split(",")[0])
        kind = RepeatedKFold if regression else RepeatedStratifiedKFold
        return kind(n_splits=5, n_repeats=repeats, random_state=seed)
    folds = 10 if draw == DRAWS_10 else 5
    return (KFold if regression else StratifiedKFold)(folds, shuffle=True, random_state=seed)


def run(dataset: str, seed: int, count: int, draw: str, quick: bool) -> dict[str, Any]:
    task = _split(dataset, seed)[0].task
    found = run_sklearn(dataset, seed, count, quick, cv=_cv(draw, task, seed))
    return {key: found[key] for key in ("task", "test", "cpu_s")}


def measure(
    quick: bool, repeats: int, datasets: list[str], count: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    draws = DRAWS if quick else (*DRAWS, DRAWS_10)
    runs, rows = [], []
    for dataset in datasets:
        found: dict[str, list[dict[str, Any]]] = {draw: [] for draw in draws}
        for seed in range(repeats):
            for draw in draws:
                found[draw].append(run(dataset, seed, count, draw, quick))
                runs.append({"dataset": dataset, "seed": seed, "draw": draw, **found[draw][-1]})
        own = found["own folds"]
        for draw in draws:
            diffs = [a["test"] - b["test"] for a, b in zip(found[draw], own, strict=True)]
            se = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
            rows.append(
                {
                    "dataset": dataset,
                    "metric": METRIC[own[0]["task"]],
                    "configurations": count,
                    "splits": repeats,
                    "draw": draw,
                    "test": statistics.fmean(r["test"] for r in found[draw]),
                    "difference": statistics.fmean(diffs),
                    "se": se,
                    "cpu_ratio": sum(r["cpu_s"] for r in found[draw])
                    / sum(r["cpu_s"] for r in own),
                }
            )
            print(f"  {dataset} {draw}: {rows[-1]['difference']:+.4f} ± {se:.4f}", flush=True)
    return runs, rows


def summarize(rows: list[dict[str, Any]]) -> str:
    return harness.table(
        [
            "dataset",
            "metric",
            "configurations",
            "splits",
            "folds",
            "test (mean)",
            "− own folds ± SE",
            "CPU × own folds",
        ],
        [
            [
                r["dataset"],
                r["metric"],
                r["configurations"],
                r["splits"],
                r["draw"],
                f"{r['test']:.4f}",
                f"{r['difference']:+.4f} ± {r['se']:.4f}",
                f"{r['cpu_ratio']:.2f}",
            ]
            for r in rows
        ],
    )


def main(argv: list[str] | None = None) -> None:
    args = harness.parse_args(
        __doc__ or "",
        argv,
        extra={
            "--datasets": {"default": None, "help": "comma-separated (default: sparse,friedman1)"},
            "--configurations": {"default": None, "help": f"default {CONFIGURATIONS}"},
        },
    )
    datasets = (
        args.datasets.split(",")
        if args.datasets
        else (["sparse"] if args.quick else ["sparse", "friedman1"])
    )
    repeats = args.repeats or (2 if args.quick else 60)
    count = int(args.configurations or (QUICK_CONFIGURATIONS if args.quick else CONFIGURATIONS))
    runs, rows = measure(args.quick, repeats, datasets, count)
    payload = {"quick": args.quick, "rows": rows, "runs": runs}
    harness.publish(args.out, "fold_draws", payload, summarize(rows))


if __name__ == "__main__":
    main()
