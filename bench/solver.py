"""The exact solver against scikit-learn's CV estimators: wall time of 30 trials' fits.

For iris, breast cancer and diabetes, 30 (λ, ρ) pairs drawn from the default search space
(λ log-uniform on [1e-5, 10], ρ uniform on [0, 1], seeded) are fitted as 30 trials would fit
them, on regtune's splits (``regtune.worker.data.make_splits``: 20 % test, then a 20 % holdout or 5
folds), with ``regtune.worker.trainers.exact.train_exact`` reporting the validation metric every 10
iterations:

* cold — every trial from zeros;
* warm — every trial from the solution of the finished trial nearest in (log λ, ρ);
* no reports — cold, without the per-epoch evaluation (what solving alone costs);
* minibatch — the current trainer with the definition's defaults (Adam, 50 epochs, batch 128,
  early stopping), holdout only;

against ``ElasticNetCV`` / elastic-net ``LogisticRegressionCV`` (saga) with bench.quality's grid,
fitted on the training and validation rows together (5-fold CV, then the refit). Times are the
best of ``--repeats`` runs (wall and this process's CPU; the machine may be shared). The test
metric (one split, so only a sanity check) is the best trial's by validation loss.

    python -m bench.solver [--quick] [--repeats N]
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from bench import harness
from regtune.worker.trainers.config import ExactOptions

DATASETS = ("iris", "breast_cancer", "diabetes")
N_PAIRS = 30
OPTIONS = ExactOptions()
"""The solver's options for every exact run (``--report-every`` sets K)."""
TEST_METRIC = {"regression": "r2", "binary": "accuracy", "multiclass": "accuracy"}


def pairs(n: int, seed: int = 0) -> list[tuple[float, float]]:
    rng = np.random.default_rng(seed)
    lambdas = 10 ** rng.uniform(-5, 1, size=n)
    return [
        (float(lam), float(rho))
        for lam, rho in zip(lambdas, rng.uniform(0, 1, size=n), strict=True)
    ]


def _timed(run: Callable[[], dict[str, Any]], repeats: int) -> dict[str, Any]:
    best: dict[str, Any] = {}
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        out = run()
        out["wall_s"], out["cpu_s"] = time.perf_counter() - wall, time.process_time() - cpu
        if not best or out["wall_s"] < best["wall_s"]:
            best = out
    return best


def run_trials(splits: Any, grid: list[tuple[float, float]], mode: str) -> dict[str, Any]:
    """Fit every pair as one trial; → fits, solver iterations, the best trial's test metric."""
    from regtune.worker.trainers.config import TrainConfig
    from regtune.worker.trainers.exact import WarmStarts, train_exact

    n_out = splits.n_classes if splits.task == "multiclass" else 1
    warm_starts = WarmStarts()
    iterations, best_loss, best_test = 0, math.inf, math.nan
    for lam, rho in grid:
        config = TrainConfig(
            task=splits.task, n_out=n_out, solver="exact", lam=lam, l1_ratio=rho, exact=OPTIONS
        )
        start = warm_starts.nearest(lam, rho) if mode == "warm" else None
        hook = None if mode == "no reports" else (lambda *_: False)
        result = train_exact(config, splits.folds, hook, warm_start=start)
        warm_starts.add(lam, rho, result.states)
        iterations += sum(result.iterations)
        if result.val_metrics["val_loss"] < best_loss:
            best_loss = result.val_metrics["val_loss"]
            best_test = result.test_metrics["test_" + TEST_METRIC[splits.task]]
    return {"fits": len(grid) * len(splits.folds), "iterations": iterations, "test": best_test}


def study_definition(
    name: str, n_trials: int, pruner: str, *, solver: str = "exact"
) -> dict[str, Any]:
    """The defaults a user gets: λ, ρ searched, TPE, hyperband, a 20 % holdout; ``minibatch``
    searches the learning rate too."""
    definition: dict[str, Any] = {
        "name": f"solver-{name}",
        "dataset": {"builtin": name},
        "model": {"kind": "linear"},
        "sampler": {"type": "tpe", "seed": 0},
        "pruner": {"type": pruner},
        "budget": {"n_trials": n_trials},
    }
    if solver == "exact":  # one trial at a time, as run_study runs it: the pruner is asked
        definition["training"] = {"lambda_path": None}
    if solver == "minibatch":
        definition["training"] = {"solver": "minibatch"}
        definition["search_space"] = {
            "lambda": {"low": 1e-5, "high": 10.0, "log": True},
            "l1_ratio": {"low": 0.0, "high": 1.0},
            "learning_rate": {"low": 1e-3, "high": 1e-1, "log": True},
        }
    return definition


def run_study(name: str, n_trials: int, mode: str) -> dict[str, Any]:
    """A whole study in this process (Optuna in memory, regtune's objective, sampler, pruner),
    trained by the solver the definition names (warm starts are measured by ``run_trials``)."""
    import optuna

    from regtune.service.spec.definition import StudySpec
    from regtune.service.spec.resolve import resolve_task
    from regtune.worker.objective import make_objective
    from regtune.worker.policies import make_pruner, make_sampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = "none" if "no pruning" in mode else "hyperband"
    solver = "minibatch" if mode == "minibatch" else "exact"
    definition = study_definition(name, n_trials, pruner, solver=solver)
    spec = resolve_task(StudySpec.model_validate(definition))
    study = optuna.create_study(sampler=make_sampler(spec), pruner=make_pruner(spec))
    study.optimize(make_objective(spec, stop_check=lambda: None), n_trials=n_trials)
    best = study.best_trial
    return {
        "fits": n_trials,
        "iterations": None,
        "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
        "test": best.user_attrs["test_" + TEST_METRIC[spec.task]],
    }


def run_sklearn(name: str, quick: bool) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, r2_score

    from bench.quality import default_configurations, sklearn_model
    from regtune.worker import data

    dataset = data.load({"builtin": name})
    rest, test = data.split_test(dataset, test_fraction=0.2, seed=0)
    count = 30 if quick else default_configurations(dataset.task)
    model = sklearn_model("linear", dataset.task, count, quick)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and API-transition warnings
        model.fit(dataset.X[rest], dataset.y[rest])
    predicted = model.predict(dataset.X[test])
    score = r2_score if dataset.task == "regression" else accuracy_score
    return {"fits": None, "iterations": None, "test": float(score(dataset.y[test], predicted))}


def measure(quick: bool, repeats: int) -> list[dict[str, Any]]:
    import torch

    from regtune.worker import data

    torch.set_num_threads(1)  # as a worker runs (REGTUNE_TORCH_THREADS)
    n_pairs = 4 if quick else N_PAIRS
    grid = pairs(n_pairs)
    rows: list[dict[str, Any]] = []

    def row(name: str, validation: str, method: str, out: dict[str, Any]) -> None:
        rows.append({"dataset": name, "validation": validation, "method": method, **out})
        print(f"  {name} {validation} {method}: {out['wall_s']:.2f} s", flush=True)

    for name in DATASETS[:1] if quick else DATASETS:
        dataset = data.load({"builtin": name})
        for scheme, holdout, folds in [("holdout", 0.2, None), ("5 folds", None, 5)]:
            splits = data.make_splits(
                dataset, test_fraction=0.2, holdout=holdout, folds=folds, seed=0
            )
            run_trials(splits, grid[:2], "cold")  # warm-up: torch's first calls
            for mode in ["cold", "warm", "no reports"]:
                row(name, scheme, mode, _timed(partial(run_trials, splits, grid, mode), repeats))
        run_study(name, 2, "study exact")  # warm-up: the objective's imports and data
        modes = ["study exact", "study exact no pruning"]
        for mode in [*modes, *([] if quick else ["minibatch"])]:
            times = 1 if mode == "minibatch" else repeats
            row(name, "holdout", mode, _timed(partial(run_study, name, n_pairs, mode), times))
        row(
            name, "5-fold CV", "scikit-learn CV", _timed(partial(run_sklearn, name, quick), repeats)
        )
    return rows


def summarize(rows: list[dict[str, Any]]) -> str:
    headers = ["dataset", "validation", "method", "fits", "solver iterations", "pruned"]
    headers += ["wall s", "cpu s", "test metric (best by val)"]
    body = [
        [
            r["dataset"],
            r["validation"],
            r["method"],
            r["fits"],
            r["iterations"] or None,
            r.get("pruned"),
            round(r["wall_s"], 3),
            round(r["cpu_s"], 3),
            round(r["test"], 4),
        ]
        for r in rows
    ]
    return harness.table(headers, body)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--report-every", type=int, default=ExactOptions.report_every)
    extra, rest = parser.parse_known_args(argv)
    args = harness.parse_args(__doc__ or "", rest)
    global OPTIONS
    OPTIONS = ExactOptions(report_every=extra.report_every)
    rows = measure(args.quick, 1 if args.quick else extra.repeats)
    payload = {"quick": args.quick, "pairs": N_PAIRS, "options": vars(OPTIONS), "rows": rows}
    harness.publish(args.out, "solver", payload, summarize(rows))


if __name__ == "__main__":
    main()
