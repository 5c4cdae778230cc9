"""Are the tuned models as good as what scikit-learn gives by hand? Held-out test metric and time.

Every dataset is split once, exactly as regtune splits it (``worker.data.make_splits``: 20 % test,
then 20 % of the rest for validation, seed 0). On the same test rows:

* the tuned linear elastic net (regtune: TPE over lambda, l1_ratio and the learning rate, hyperband
  pruning) against ``ElasticNetCV`` (regression) and elastic-net ``LogisticRegressionCV``
  (classification, saga), on every built-in dataset and on friedman1;
* the tuned MLP with dropout (also over dropout) against ``MLPRegressor`` / ``MLPClassifier`` with
  default settings and against the best linear model, on friedman1 and digits.

scikit-learn models are standardized by a ``StandardScaler`` in a pipeline and cross-validate
(5 folds) on the training and validation rows together, then refit on all of them; regtune's
number is the best trial's test metric as the API reports it (a model trained on the training
rows only, chosen on the validation rows). The studies run in this process through Optuna's
in-memory storage with regtune's objective, sampler and pruner, as in ``bench.pruning``.

    python -m bench.quality [--quick]
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from bench import harness
from bench.pruning import TEST_METRIC, run_study

DATASETS: dict[str, dict[str, Any]] = {
    "diabetes": {"builtin": "diabetes"},
    "breast_cancer": {"builtin": "breast_cancer"},
    "wine": {"builtin": "wine"},
    "iris": {"builtin": "iris"},
    "digits": {"builtin": "digits"},
    "friedman1": {"synthetic": {"kind": "friedman1"}},
}
MLP_DATASETS = ("friedman1", "digits")


def definition(dataset: str, kind: str, n_trials: int, epochs: int) -> dict[str, Any]:
    space: dict[str, Any] = {
        "lambda": {"low": 1e-6, "high": 1.0, "log": True},
        "l1_ratio": {"low": 0.0, "high": 1.0},
    }
    model: dict[str, Any] = {"kind": "linear"}
    if kind == "mlp":
        model = {"kind": "mlp", "hidden_layers": [64, 64]}
        space["dropout"] = {"low": 0.0, "high": 0.5}
        space["learning_rate"] = {"low": 1e-4, "high": 3e-2, "log": True}
    return {
        "name": f"quality-{dataset}-{kind}",
        "dataset": DATASETS[dataset],
        "model": model,
        "search_space": space,
        "training": {
            "max_epochs": epochs,
            "batch_size": 64,
            "early_stopping": {"patience": 10},
        },
        "validation": {"holdout": 0.2, "test_fraction": 0.2, "split_seed": 0},
        "sampler": {"type": "tpe", "seed": 0},
        "pruner": {"type": "hyperband"},
        "budget": {"n_trials": n_trials},
    }


def _splits(dataset: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """The rows regtune trains and validates on (together) and its test rows, unstandardized."""
    from sklearn.model_selection import train_test_split

    from service.spec.definition import StudySpec
    from worker import data

    spec = StudySpec.model_validate(definition(dataset, "linear", 1, 1))
    loaded = data.load(spec.dataset.model_dump(mode="json"))
    stratify = data._stratify(loaded.y, loaded.task)
    index = np.arange(len(loaded.y))
    rest, test = train_test_split(index, test_size=0.2, random_state=0, stratify=stratify)
    return loaded.X[rest], loaded.y[rest], loaded.X[test], loaded.y[test], loaded.task


def sklearn_model(kind: str, task: str, quick: bool) -> Any:
    from sklearn.linear_model import ElasticNetCV, LogisticRegressionCV
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    regression = task == "regression"
    if kind == "mlp":
        model: Any = MLPRegressor(random_state=0) if regression else MLPClassifier(random_state=0)
        if quick:
            model.set_params(max_iter=5)
    elif regression:
        model = ElasticNetCV(l1_ratio=[0.1, 0.5, 0.7, 0.9, 0.95, 0.99, 1.0], cv=5)
    else:
        model = LogisticRegressionCV(
            Cs=3 if quick else 10,
            l1_ratios=(0.1, 0.5, 0.9),
            solver="saga",
            scoring="neg_log_loss",
            cv=5,
            max_iter=100 if quick else 2000,
            random_state=0,
        )
    return make_pipeline(StandardScaler(), model)


def run_sklearn(dataset: str, kind: str, quick: bool) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, r2_score

    X, y, X_test, y_test, task = _splits(dataset)
    model = sklearn_model(kind, task, quick)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and API-transition warnings
        model.fit(X, y)
    wall = time.perf_counter() - started
    predicted = model.predict(X_test)
    score = (
        r2_score(y_test, predicted) if task == "regression" else accuracy_score(y_test, predicted)
    )
    return {"task": task, "test": float(score), "wall_s": wall}


def run_regtune(dataset: str, kind: str, quick: bool) -> dict[str, Any]:
    n_trials, epochs = (3, 3) if quick else ((60, 100) if kind == "mlp" else (50, 100))
    result = run_study(definition(dataset, kind, n_trials, epochs))
    return {
        "task": result["task"],
        "test": float(result["best_test"]),
        "wall_s": result["wall_s"],
        "best_params": result["best_params"],
        "n_trials": n_trials,
    }


def measure(quick: bool) -> list[dict[str, Any]]:
    datasets = ["diabetes", "friedman1"] if quick else list(DATASETS)
    plan = [(d, "linear") for d in datasets] + [(d, "mlp") for d in MLP_DATASETS if d in datasets]
    rows: list[dict[str, Any]] = []
    for dataset in datasets:  # warm up: data loading and torch's first calls are not timed
        run_study(definition(dataset, "linear", 1, 1))
    for dataset, kind in plan:
        ours = run_regtune(dataset, kind, quick)
        theirs = run_sklearn(dataset, kind, quick)
        rows.append({"dataset": dataset, "model": kind, "regtune": ours, "sklearn": theirs})
        print(
            f"  {dataset:13s} {kind:6s} regtune {ours['test']:.4f} ({ours['wall_s']:.1f} s) "
            f"sklearn {theirs['test']:.4f} ({theirs['wall_s']:.1f} s)",
            flush=True,
        )
    for row in rows:
        if row["model"] != "mlp":
            continue
        linear = next(r for r in rows if r["dataset"] == row["dataset"] and r["model"] == "linear")
        best = max(linear["regtune"]["test"], linear["sklearn"]["test"])
        row["best_linear"] = best
        row["best_linear_from"] = "regtune" if linear["regtune"]["test"] >= best else "sklearn"
    return rows


SKLEARN_NAMES = {
    ("linear", "regression"): "ElasticNetCV",
    ("linear", "classification"): "LogisticRegressionCV (elastic net)",
    ("mlp", "regression"): "MLPRegressor (defaults)",
    ("mlp", "classification"): "MLPClassifier (defaults)",
}


def summarize(rows: list[dict[str, Any]]) -> str:
    headers = [
        "dataset",
        "model",
        "test metric",
        "regtune tuned",
        "scikit-learn",
        "scikit-learn model",
        "difference",
        "best linear",
        "regtune s",
        "scikit-learn s",
    ]
    out = []
    for r in rows:
        task = r["regtune"]["task"]
        family = "regression" if task == "regression" else "classification"
        out.append(
            [
                r["dataset"],
                "elastic net" if r["model"] == "linear" else "MLP + dropout",
                TEST_METRIC[task].removeprefix("test_"),
                round(r["regtune"]["test"], 4),
                round(r["sklearn"]["test"], 4),
                SKLEARN_NAMES[(r["model"], family)],
                f"{r['regtune']['test'] - r['sklearn']['test']:+.4f}",
                ""
                if "best_linear" not in r
                else f"{r['best_linear']:.4f} ({r['best_linear_from']})",
                round(r["regtune"]["wall_s"], 1),
                round(r["sklearn"]["wall_s"], 2),
            ]
        )
    return harness.table(headers, out)


def main(argv: list[str] | None = None) -> None:
    args = harness.parse_args(__doc__ or "", argv)
    rows = measure(args.quick)
    harness.publish(args.out, "quality", {"quick": args.quick, "rows": rows}, summarize(rows))


if __name__ == "__main__":
    main()
