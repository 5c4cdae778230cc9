"""What a stop rule saves: linear studies with ``budget.stop`` against the same studies run to
their whole budget, paired by split.

On each of ``bench.quality``'s random splits (split seed 0–N−1, 20 % test), a study of
``--configurations`` configurations with the defaults (as ``bench.quality`` runs it: one worker
in this process on a SQLite file, TPE seeded by the split, λ paths), once with no stop rule (the
baseline, run in the same process, in turn) and once per rule in ``--rules``; each best model
(the refit of its chosen configuration on every non-test row) scored on the test rows. Reported
per dataset and rule: the trials each ran (mean), the share of the budget, the wall time over
the baseline's (summed over the splits), and the test metric's paired difference from the
baseline ± standard error.

    python -m bench.stopping [--quick] [--repeats SPLITS] [--datasets diabetes,friedman1,sparse]
        [--configurations 700] [--rules patience=50,patience=100,patience=200]
"""

from __future__ import annotations

import statistics
from typing import Any

from bench import harness
from bench.quality import Variant, run_regtune, study_database
from bench.quality_summary import METRIC

DATASETS = ("diabetes", "friedman1", "sparse")
RULES = ("patience=50", "patience=100", "patience=200")
CONFIGURATIONS = 700
QUICK_RULES = ("patience=3",)
QUICK_CONFIGURATIONS = 12
BASELINE = "none (the whole budget)"


def rule_of(given: str) -> dict[str, Any]:
    """``patience=N`` or ``value=X`` (joined by ``+``) as a ``budget.stop``."""
    stop: dict[str, Any] = {}
    for part in given.split("+"):
        key, _, value = part.partition("=")
        stop[key] = int(value) if key == "patience" else float(value)
    return stop


def measure(
    quick: bool, repeats: int, datasets: list[str], count: int, rules: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    runs: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    variants = {BASELINE: Variant(), **{r: Variant(stop=rule_of(r)) for r in rules}}
    with study_database("stopping", datasets):
        for dataset in datasets:
            found: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
            for seed in range(repeats):
                for name, variant in variants.items():
                    (result,) = run_regtune(dataset, seed, [count], variant).values()
                    found[name].append(result)
                    runs.append({"dataset": dataset, "seed": seed, "rule": name, **result})
                    print(
                        f"  {dataset:10s} split {seed} {name:24s} {result['trials']:4d} trials "
                        f"test {result['test']:.4f} ({result['wall_s']:.2f} s)",
                        flush=True,
                    )
            rows.extend(_rows(dataset, count, repeats, found))
    return runs, rows


def _rows(
    dataset: str, count: int, repeats: int, found: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    base = found[BASELINE]
    rows = []
    for name, results in found.items():
        diffs = [a["test"] - b["test"] for a, b in zip(results, base, strict=True)]
        trials = statistics.fmean(r["trials"] for r in results)
        rows.append(
            {
                "dataset": dataset,
                "metric": METRIC[base[0]["task"]],
                "configurations": count,
                "splits": repeats,
                "rule": name,
                "trials": trials,
                "budget_share": trials / count,
                "wall_ratio": sum(r["wall_s"] for r in results) / sum(r["wall_s"] for r in base),
                "test": statistics.fmean(r["test"] for r in results),
                "difference": statistics.fmean(diffs),
                "se": statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else 0.0,
            }
        )
    return rows


def summarize(rows: list[dict[str, Any]]) -> str:
    return harness.table(
        [
            "dataset",
            "metric",
            "configurations",
            "splits",
            "budget.stop",
            "trials run (mean)",
            "of the budget",
            "wall × whole budget",
            "test (mean)",
            "− whole budget ± SE",
        ],
        [
            [
                r["dataset"],
                r["metric"],
                r["configurations"],
                r["splits"],
                r["rule"],
                f"{r['trials']:.0f}",
                f"{r['budget_share']:.0%}",
                f"{r['wall_ratio']:.2f}",
                f"{r['test']:.4f}",
                f"{r['difference']:+.4f} ± {r['se']:.4f}",
            ]
            for r in rows
        ],
    )


def main(argv: list[str] | None = None) -> None:
    args = harness.parse_args(
        __doc__ or "",
        argv,
        extra={
            "--datasets": {
                "default": None,
                "help": "comma-separated (default: " + ",".join(DATASETS) + ")",
            },
            "--configurations": {"type": int, "default": None, "help": f"default {CONFIGURATIONS}"},
            "--rules": {
                "default": None,
                "help": "comma-separated budget.stop rules, each patience=N or value=X, joined "
                "by + (default: " + ",".join(RULES) + ")",
            },
        },
    )
    datasets = (
        args.datasets.split(",")
        if args.datasets
        else (["diabetes"] if args.quick else list(DATASETS))
    )
    repeats = args.repeats or (2 if args.quick else 10)
    count = args.configurations or (QUICK_CONFIGURATIONS if args.quick else CONFIGURATIONS)
    rules = args.rules.split(",") if args.rules else list(QUICK_RULES if args.quick else RULES)
    runs, rows = measure(args.quick, repeats, datasets, count, rules)
    payload = {"quick": args.quick, "rows": rows, "runs": runs}
    name = "stopping" if not args.datasets else "stopping-" + "-".join(datasets)
    harness.publish(args.out, name, payload, summarize(rows))


if __name__ == "__main__":
    main()
