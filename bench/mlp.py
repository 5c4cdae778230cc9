"""Tuned MLPs against scikit-learn's ``MLPRegressor`` / ``MLPClassifier``, default and tuned.

For each dataset and each of ``--repeats`` random splits (split seed s; 20 % test, as
``regtune.worker.data.split_test`` makes it), on the same test rows:

* **regtune**: a 60-trial MLP study with the defaults (two hidden layers of 64, the minibatch
  trainer, its early stopping, the default pruner and validation) searching λ, l1_ratio, dropout
  and the learning rate (TPE seeded s), run in process through regtune's own objective, sampler
  and pruner, then the refit of the best configuration on every non-test row, scored on the test
  rows;
* **scikit-learn, default**: ``MLPRegressor`` / ``MLPClassifier`` (100 hidden units, adam, L2
  ``alpha`` 1e-4, ``random_state`` s) after a ``StandardScaler``, on the non-test rows;
* **scikit-learn, tuned**: the same pipeline with two hidden layers of 64, 60 configurations of
  ``alpha`` and ``learning_rate_init`` (log-uniform over the ranges regtune searches) drawn by
  ``RandomizedSearchCV`` and judged on one 20 % holdout of the non-test rows (as regtune's trials
  are), then refit on all of them.

Reported per dataset: the test metric of each (R² or accuracy), the paired differences regtune
− scikit-learn ± their standard error over the splits, and wall times.

    python -m bench.mlp [--quick] [--repeats SPLITS] [--datasets friedman1,breast_cancer]
"""

from __future__ import annotations

import statistics
import time
import warnings
from typing import Any

import numpy as np

from bench import harness
from bench.pruning import MLP_SPACE

DATASETS: dict[str, dict[str, Any]] = {
    "diabetes": {"builtin": "diabetes"},
    "friedman1": {"synthetic": {"kind": "friedman1"}},
    "digits": {"builtin": "digits"},
    "breast_cancer": {"builtin": "breast_cancer"},
    "wine": {"builtin": "wine"},
}
N_TRIALS = 60
METRIC = {"regression": "r2", "binary": "accuracy", "multiclass": "accuracy"}


def definition(dataset: str, seed: int, n_trials: int, epochs: int | None) -> dict[str, Any]:
    training: dict[str, Any] = {} if epochs is None else {"max_epochs": epochs}
    return {
        "name": f"mlp-{dataset}-{seed}",
        "dataset": DATASETS[dataset],
        "model": {"kind": "mlp", "hidden_layers": [64, 64]},
        "search_space": MLP_SPACE,
        "training": training,
        "validation": {"test_fraction": 0.2, "split_seed": seed},
        "sampler": {"type": "tpe", "seed": seed},
        "budget": {"n_trials": n_trials},
    }


def run_regtune(dataset: str, seed: int, n_trials: int, epochs: int | None) -> dict[str, Any]:
    import optuna
    import torch

    from regtune.service.spec.definition import StudySpec
    from regtune.service.spec.resolve import resolve_task
    from regtune.worker.objective import make_objective
    from regtune.worker.policies import make_pruner, make_sampler
    from regtune.worker.refit import best_fit

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    spec = resolve_task(StudySpec.model_validate(definition(dataset, seed, n_trials, epochs)))
    started = time.perf_counter()
    study = optuna.create_study(
        direction=spec.objective.direction or "minimize",
        sampler=make_sampler(spec),
        pruner=make_pruner(spec),
    )
    study.optimize(make_objective(spec, stop_check=lambda: None), n_trials=n_trials)
    best = study.best_trial
    fitted = best_fit(spec, best.params, best.user_attrs)
    return {
        "task": spec.task.value,
        "test": fitted.result.test_metrics["test_" + METRIC[spec.task.value]],
        "wall_s": time.perf_counter() - started,
        "params": best.params,
        "epochs": sum(int(t.user_attrs.get("epochs_run", 0)) for t in study.trials),
    }


def _rows(dataset: str, seed: int) -> tuple[Any, np.ndarray, np.ndarray]:
    from regtune.service.spec.definition import StudySpec
    from regtune.worker import data

    spec = StudySpec.model_validate(definition(dataset, seed, 1, None))
    loaded = data.load(spec.dataset.model_dump(mode="json"))
    rest, test = data.split_test(loaded, test_fraction=0.2, seed=seed)
    return loaded, rest, test


def run_sklearn(dataset: str, seed: int, tuned: bool, n_trials: int, quick: bool) -> dict[str, Any]:
    from scipy.stats import loguniform
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import RandomizedSearchCV, ShuffleSplit, StratifiedShuffleSplit
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    loaded, rest, test = _rows(dataset, seed)
    regression = loaded.task == "regression"
    options: dict[str, Any] = {"random_state": seed, **({"max_iter": 5} if quick else {})}
    if tuned:
        options["hidden_layer_sizes"] = (64, 64)
    net = MLPRegressor(**options) if regression else MLPClassifier(**options)
    model: Any = make_pipeline(StandardScaler(), net)
    if tuned:
        split = ShuffleSplit if regression else StratifiedShuffleSplit
        model = RandomizedSearchCV(
            model,
            {
                "mlpregressor__alpha" if regression else "mlpclassifier__alpha": loguniform(
                    1e-6, 1e-1
                ),
                "mlpregressor__learning_rate_init"
                if regression
                else "mlpclassifier__learning_rate_init": loguniform(1e-4, 3e-2),
            },
            n_iter=n_trials,
            cv=split(n_splits=1, test_size=0.2, random_state=seed),
            random_state=seed,
        )
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings
        model.fit(loaded.X[rest], loaded.y[rest])
    wall = time.perf_counter() - started
    predicted = model.predict(loaded.X[test])
    y = loaded.y[test]
    score = r2_score(y, predicted) if regression else accuracy_score(y, predicted)
    return {"test": float(score), "wall_s": wall}


def _mean_se(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else float("nan")
    return mean, se


def measure(quick: bool, repeats: int, datasets: list[str]) -> list[dict[str, Any]]:
    n_trials, epochs = (3, 3) if quick else (N_TRIALS, None)
    runs: list[dict[str, Any]] = []
    for dataset in datasets:
        for seed in range(repeats):
            run: dict[str, Any] = {
                "dataset": dataset,
                "seed": seed,
                "regtune": run_regtune(dataset, seed, n_trials, epochs),
                "default": run_sklearn(dataset, seed, False, n_trials, quick),
                "tuned": run_sklearn(dataset, seed, True, n_trials, quick),
            }
            runs.append(run)
            print(
                f"  {dataset:9s} split {seed} regtune {run['regtune']['test']:.4f} "
                f"sklearn default {run['default']['test']:.4f} "
                f"tuned {run['tuned']['test']:.4f}",
                flush=True,
            )
    return runs


def summarize(runs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    rows = []
    for dataset in dict.fromkeys(r["dataset"] for r in runs):
        group = [r for r in runs if r["dataset"] == dataset]
        row: dict[str, Any] = {
            "dataset": dataset,
            "metric": METRIC[group[0]["regtune"]["task"]],
            "splits": len(group),
        }
        for who in ("regtune", "default", "tuned"):
            row[who] = statistics.fmean(r[who]["test"] for r in group)
            row[f"{who}_s"] = statistics.fmean(r[who]["wall_s"] for r in group)
        for who in ("default", "tuned"):
            diff, se = _mean_se([r["regtune"]["test"] - r[who]["test"] for r in group])
            row[f"vs_{who}"], row[f"vs_{who}_se"] = diff, se
        rows.append(row)
    headers = [
        "dataset",
        "metric",
        "splits",
        "regtune (tuned, refit)",
        "scikit-learn default",
        "scikit-learn tuned",
        "regtune − default ± SE",
        "regtune − tuned ± SE",
        "wall s (regtune; default; tuned)",
    ]
    table = harness.table(
        headers,
        [
            [
                r["dataset"],
                r["metric"],
                r["splits"],
                f"{r['regtune']:.4f}",
                f"{r['default']:.4f}",
                f"{r['tuned']:.4f}",
                f"{r['vs_default']:+.4f} ± {r['vs_default_se']:.4f}",
                f"{r['vs_tuned']:+.4f} ± {r['vs_tuned_se']:.4f}",
                f"{r['regtune_s']:.1f}; {r['default_s']:.1f}; {r['tuned_s']:.1f}",
            ]
            for r in rows
        ],
    )
    return rows, table


def main(argv: list[str] | None = None) -> None:
    args = harness.parse_args(
        __doc__ or "",
        argv,
        extra={"--datasets": {"default": None, "help": "comma-separated (default: all)"}},
    )
    datasets = (
        args.datasets.split(",")
        if args.datasets
        else (["diabetes"] if args.quick else list(DATASETS))
    )
    repeats = args.repeats or (1 if args.quick else 5)
    runs = measure(args.quick, repeats, datasets)
    rows, markdown = summarize(runs)
    harness.publish(args.out, "mlp", {"quick": args.quick, "rows": rows, "runs": runs}, markdown)


if __name__ == "__main__":
    main()
