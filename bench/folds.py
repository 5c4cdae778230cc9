"""What 5-fold validation costs the exact solver, against a 20 % holdout, by dataset size.

The default validation of an exact-solver study is 5-fold when the data is small enough
(``regtune.service.spec.validation.FOLDS_MAX_CELLS``), a holdout otherwise; this is the measurement
that rule comes from. For synthetic regression data of each size (rows × features) and three
built-in tables (whose correlated features need more iterations), one
exact-solver trial is trained under each scheme at a few λ (elastic net, l1_ratio 0.5) through
regtune's own objective, and its CPU time (``time.process_time``: what the trial costs the
worker, whatever else the machine runs) is averaged. Reported: CPU ms per trial for each scheme,
the ratio, and the extra CPU 5 folds cost per trial, to compare with the service's own cost of
a trial (``bench.overhead``: about 70 ms on SQLite).

    python -m bench.folds [--quick] [--repeats LAMBDAS]
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench import harness

SIZES = [(200, 10), (500, 20), (1_000, 50), (2_000, 100), (5_000, 100), (10_000, 200)]
QUICK_SIZES = [(200, 10), (1_000, 20)]
BUILTINS = ["diabetes", "breast_cancer", "digits"]
"""Real tables too: correlated features need more iterations than the synthetic data."""
SCHEMES: dict[str, dict[str, Any]] = {"holdout": {"holdout": 0.2}, "5-fold": {"folds": 5}}
LAMBDAS = [1.0, 0.1, 0.01, 0.001, 0.0001, 0.00001]


def dataset(size: tuple[int, int] | str) -> dict[str, Any]:
    if isinstance(size, str):
        return {"builtin": size}
    rows, features = size
    return {
        "synthetic": {
            "kind": "sparse_regression",
            "n_samples": rows,
            "n_features": features,
            "n_informative": max(1, features // 5),
            "noise": 1.0,
        }
    }


def definition(size: tuple[int, int] | str, scheme: str) -> dict[str, Any]:
    return {
        "name": f"folds-{scheme}",
        "dataset": dataset(size),
        "model": {"kind": "linear"},
        "search_space": {"lambda": {"low": 1e-5, "high": 10.0, "log": True}, "l1_ratio": 0.5},
        "validation": SCHEMES[scheme],
        "pruner": {"type": "none"},
    }


def trial_cpu(size: tuple[int, int] | str, scheme: str, lambdas: list[float]) -> dict[str, Any]:
    """Mean CPU seconds of one trial at each λ (the data loaded and split beforehand)."""
    import optuna
    import torch

    from regtune.service.spec import cost
    from regtune.service.spec.definition import StudySpec
    from regtune.service.spec.resolve import resolve_task
    from regtune.worker.objective import make_objective

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)
    spec = resolve_task(StudySpec.model_validate(definition(size, scheme)))
    shape = cost.shape_of(spec)
    objective = make_objective(spec, stop_check=lambda: None)
    study = optuna.create_study()
    study.enqueue_trial({"lambda": lambdas[0]})
    study.optimize(objective, n_trials=1)  # warm: torch's first calls are not counted
    seconds = []
    for lam in lambdas:
        study.enqueue_trial({"lambda": lam})
        started = time.process_time()
        study.optimize(objective, n_trials=1)
        seconds.append(time.process_time() - started)
    iterations = [t.user_attrs.get("iterations", 0) for t in study.trials[1:]]
    return {
        "cpu_s": statistics.fmean(seconds),
        "iterations": statistics.fmean(iterations),
        "rows": shape.rows,
        "features": shape.features,
        "outputs": shape.classes if shape.classes > 2 else 1,
    }


def measure(quick: bool, repeats: int | None) -> list[dict[str, Any]]:
    lambdas = LAMBDAS[: repeats or (2 if quick else len(LAMBDAS))]
    rows = []
    sizes: list[tuple[int, int] | str] = [*(QUICK_SIZES if quick else SIZES), *BUILTINS[:1]]
    if not quick:
        sizes += BUILTINS[1:]
    for size in sizes:
        found = {scheme: trial_cpu(size, scheme, lambdas) for scheme in SCHEMES}
        holdout, folds = found["holdout"]["cpu_s"], found["5-fold"]["cpu_s"]
        shape = found["holdout"]
        rows.append(
            {
                "data": size if isinstance(size, str) else "synthetic",
                "rows": shape["rows"],
                "features": shape["features"],
                "outputs": shape["outputs"],
                "cells": shape["rows"] * shape["features"] * shape["outputs"],
                "holdout_ms": 1000 * holdout,
                "folds_ms": 1000 * folds,
                "ratio": folds / holdout,
                "extra_ms": 1000 * (folds - holdout),
                "holdout_iterations": found["holdout"]["iterations"],
                "folds_iterations": found["5-fold"]["iterations"],
            }
        )
        print(f"  {size}: {rows[-1]}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    args = harness.parse_args(__doc__ or "", argv)
    rows = measure(args.quick, args.repeats)
    headers = [
        "data",
        "rows × features × outputs",
        "cells",
        "holdout CPU ms/trial",
        "5-fold CPU ms/trial",
        "ratio",
        "extra CPU ms/trial",
        "iterations (holdout; slowest fold)",
    ]
    markdown = harness.table(
        headers,
        [
            [
                r["data"],
                f"{r['rows']:,} × {r['features']} × {r['outputs']}",
                f"{r['cells']:,}",
                f"{r['holdout_ms']:.1f}",
                f"{r['folds_ms']:.1f}",
                f"{r['ratio']:.1f}",
                f"{r['extra_ms']:.1f}",
                f"{r['holdout_iterations']:.0f}; {r['folds_iterations']:.0f}",
            ]
            for r in rows
        ],
    )
    harness.publish(args.out, "folds", {"quick": args.quick, "rows": rows}, markdown)


if __name__ == "__main__":
    main()
