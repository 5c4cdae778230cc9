"""Are regtune's tuned linear models as good as scikit-learn's CV estimators, and faster?

For every dataset and each of ``--repeats`` random splits (split seed s = 0, 1, ...; 20 % test,
as ``regtune.worker.data.split_test`` makes it), on the same test rows:

* **regtune, in process**: a 30-trial study (TPE seeded s, the default pruner, the exact
  solver, a 20 % holdout) through regtune's own objective, sampler and pruner with Optuna's
  in-memory storage, then the refit of the best configuration on every non-test row
  (``regtune.worker.best_model.best_fit``), scored on the test rows. Wall time: the study plus the
  refit.
* **scikit-learn**: ``ElasticNetCV`` (regression) or elastic-net ``LogisticRegressionCV``
  (classification, saga), standardized in a pipeline, 5-fold CV on the same non-test rows, then
  refit on all of them (what it does by default). Wall time: ``fit``.

Reported per dataset: the paired mean difference regtune − scikit-learn of the test metric
(R² or accuracy) ± its standard error over the splits, and the mean wall times. On the sparse
synthetic data (true support known) the comparator is ``LassoCV`` and regtune searches λ with
``l1_ratio: 1``; the precision and recall of the selected features (non-zero coefficients)
against the true support are reported for both.

``--service`` also runs regtune end to end for one dataset (diabetes): the non-test rows
uploaded as a CSV, a study created through the API and run by one worker, the best model
downloaded and ``predict`` run on the test rows' CSV; wall time from the upload to the
prediction.

    python -m bench.quality [--quick] [--repeats 10] [--datasets iris,diabetes] [--service]
"""

from __future__ import annotations

import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from bench import harness

DATASETS: dict[str, dict[str, Any]] = {
    "diabetes": {"builtin": "diabetes"},
    "breast_cancer": {"builtin": "breast_cancer"},
    "wine": {"builtin": "wine"},
    "iris": {"builtin": "iris"},
    "digits": {"builtin": "digits"},
    "friedman1": {"synthetic": {"kind": "friedman1"}},
    "sparse": {
        "synthetic": {
            "kind": "sparse_regression",
            "n_samples": 200,
            "n_features": 50,
            "n_informative": 5,
            "noise": 1.0,
        }
    },
}
N_TRIALS = 30
METRIC = {"regression": "r2", "binary": "accuracy", "multiclass": "accuracy"}


def definition(dataset: str, seed: int, n_trials: int = N_TRIALS) -> dict[str, Any]:
    space: dict[str, Any] = {
        "lambda": {"low": 1e-6, "high": 10.0, "log": True},
        "l1_ratio": 1.0 if dataset == "sparse" else {"low": 0.0, "high": 1.0},
    }
    return {
        "name": f"quality-{dataset}-{seed}",
        "dataset": DATASETS[dataset],
        "model": {"kind": "linear"},
        "search_space": space,
        "validation": {"holdout": 0.2, "test_fraction": 0.2, "split_seed": seed},
        "sampler": {"type": "tpe", "seed": seed},
        "budget": {"n_trials": n_trials},
    }


def _split(dataset: str, seed: int) -> tuple[Any, np.ndarray, np.ndarray]:
    from regtune.service.spec.definition import StudySpec
    from regtune.worker import data

    spec = StudySpec.model_validate(definition(dataset, seed))
    loaded = data.load(spec.dataset.model_dump(mode="json"))
    rest, test = data.split_test(loaded, test_fraction=0.2, seed=seed)
    return loaded, rest, test


def _support(coef: np.ndarray, truth: np.ndarray | None) -> dict[str, float]:
    if truth is None:
        return {}
    selected = set(np.flatnonzero(np.abs(coef) > 0).tolist())
    true = set(truth.tolist())
    hits = len(selected & true)
    return {
        "precision": hits / len(selected) if selected else 1.0,
        "recall": hits / len(true),
        "selected": len(selected),
    }


def run_regtune(dataset: str, seed: int, n_trials: int) -> dict[str, Any]:
    """A study in this process, then the refit: test metric, wall time, selected features."""
    import optuna
    import torch

    from regtune.service.spec.definition import StudySpec, resolve_task
    from regtune.worker.best_model import best_fit
    from regtune.worker.models import penalized_weights
    from regtune.worker.objective import make_objective
    from regtune.worker.policies import make_pruner, make_sampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)  # what a worker uses (REGTUNE_TORCH_THREADS)
    spec = resolve_task(StudySpec.model_validate(definition(dataset, seed, n_trials)))
    started = time.perf_counter()
    study = optuna.create_study(
        direction=spec.objective.direction or "minimize",
        sampler=make_sampler(spec),
        pruner=make_pruner(spec),
    )
    study.optimize(make_objective(spec, stop_check=lambda: None), n_trials=n_trials)
    best = study.best_trial
    fitted = best_fit(spec, best.params, best.user_attrs)
    wall = time.perf_counter() - started
    loaded, _, _ = _split(dataset, seed)
    coef = penalized_weights(fitted.result.models[0])[0].detach().numpy()
    return {
        "task": spec.task.value,
        "test": fitted.result.test_metrics["test_" + METRIC[spec.task.value]],
        "wall_s": wall,
        "params": best.params,
        "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
        **_support(np.abs(coef).max(axis=0), loaded.true_support),
    }


def sklearn_model(dataset: str, task: str, quick: bool) -> Any:
    from sklearn.linear_model import ElasticNetCV, LassoCV, LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model: Any
    if dataset == "sparse":
        model = LassoCV(cv=5)
    elif task == "regression":
        model = ElasticNetCV(l1_ratio=[0.1, 0.5, 0.7, 0.9, 0.95, 0.99, 1.0], cv=5)
    else:
        model = LogisticRegressionCV(
            Cs=3 if quick else 10,
            l1_ratios=(0.1, 0.5, 0.9),
            penalty="elasticnet",
            solver="saga",
            scoring="neg_log_loss",
            cv=5,
            max_iter=100 if quick else 2000,
            random_state=0,
        )
    return make_pipeline(StandardScaler(), model)


def run_sklearn(dataset: str, seed: int, quick: bool) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, r2_score

    loaded, rest, test = _split(dataset, seed)
    model = sklearn_model(dataset, loaded.task, quick)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and API-transition warnings
        model.fit(loaded.X[rest], loaded.y[rest])
    wall = time.perf_counter() - started
    predicted = model.predict(loaded.X[test])
    regression = loaded.task == "regression"
    y = loaded.y[test]
    score = r2_score(y, predicted) if regression else accuracy_score(y, predicted)
    coef = np.abs(np.atleast_2d(model[-1].coef_)).max(axis=0)
    return {"test": float(score), "wall_s": wall, **_support(coef, loaded.true_support)}


def run_service(seed: int, n_trials: int, tmp: Path) -> dict[str, Any]:
    """diabetes end to end: upload the non-test rows, a study, the best model, predict."""
    import pandas as pd

    from regtune.service.client.http import Client
    from regtune.worker import modelfile

    loaded, rest, test = _split("diabetes", seed)
    frames = {}
    for name, rows in (("train", rest), ("test", test)):
        frame = pd.DataFrame(loaded.X[rows], columns=loaded.feature_names)
        frame["target"] = loaded.y[rows]
        frames[name] = tmp / f"diabetes-{name}-{seed}.csv"
        frame.to_csv(frames[name], index=False)
    url = harness.fresh_database("sqlite", tmp, None, f"quality{seed}")
    env = {"REGTUNE_ARTIFACT_DIR": str(tmp / f"artifacts{seed}"), "REGTUNE_POLL_MAX": "0.5"}
    with harness.Service(url, tmp, **env) as service:
        service.start_api().start_workers(1)
        with Client(service.url) as client:
            started = time.perf_counter()
            uploaded = client.upload_dataset(frames["train"], target="target")
            spec = definition("diabetes", seed, n_trials)
            spec["dataset"] = {"id": uploaded.id}
            spec["validation"] = {"holdout": 0.2, "split_seed": seed}
            study_id = service.submit(spec)
            done = client.wait(study_id, timeout=600 + 60 * n_trials)
            assert done.status == "completed", service.logs()[-3000:]
            assert done.best_model is not None, "no best model saved"
            path = client.download_best_model(study_id, tmp / f"best-{seed}.safetensors")
            saved = modelfile.load(path)
            table = pd.read_csv(frames["test"])
            scored = saved.score(saved.features(table), table["target"].to_numpy())
            wall = time.perf_counter() - started
    return {"test": scored["r2"], "wall_s": wall, "train_rows": saved.info.get("train_rows")}


def _mean_se(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else float("nan")
    return mean, se


def measure(quick: bool, repeats: int, datasets: list[str], service: bool) -> dict[str, Any]:
    n_trials = 3 if quick else N_TRIALS
    runs: list[dict[str, Any]] = []
    for dataset in datasets:  # warm up: data loading and torch's first calls are not timed
        run_regtune(dataset, 0, 1)
    for dataset in datasets:
        for seed in range(repeats):
            ours = run_regtune(dataset, seed, n_trials)
            theirs = run_sklearn(dataset, seed, quick)
            runs.append({"dataset": dataset, "seed": seed, "regtune": ours, "sklearn": theirs})
            print(
                f"  {dataset:13s} split {seed} regtune {ours['test']:.4f} "
                f"({ours['wall_s']:.1f} s) sklearn {theirs['test']:.4f} "
                f"({theirs['wall_s']:.1f} s)",
                flush=True,
            )
    service_runs: list[dict[str, Any]] = []
    if service:
        with harness.scratch("quality") as tmp:
            for seed in range(min(repeats, 3)):
                ours = run_service(seed, n_trials, tmp)
                theirs = run_sklearn("diabetes", seed, quick)
                service_runs.append({"seed": seed, "regtune": ours, "sklearn": theirs})
                print(f"  service diabetes split {seed} {ours} sklearn {theirs}", flush=True)
    return {"runs": runs, "service_runs": service_runs}


def _row(label: str, metric: str, group: list[dict[str, Any]]) -> dict[str, Any]:
    diff, se = _mean_se([r["regtune"]["test"] - r["sklearn"]["test"] for r in group])
    row: dict[str, Any] = {
        "dataset": label,
        "metric": metric,
        "splits": len(group),
        "regtune": statistics.fmean(r["regtune"]["test"] for r in group),
        "sklearn": statistics.fmean(r["sklearn"]["test"] for r in group),
        "difference": diff,
        "se": se,
        "regtune_s": statistics.fmean(r["regtune"]["wall_s"] for r in group),
        "sklearn_s": statistics.fmean(r["sklearn"]["wall_s"] for r in group),
    }
    # equal to −1 SE counts (one test sample apart on every split gives exactly that)
    row["at_least_sklearn_minus_se"] = bool(diff >= -se - 1e-12) if se == se else None
    for who in ("regtune", "sklearn"):
        if "precision" in group[0][who]:
            row[f"{who}_precision"] = statistics.fmean(r[who]["precision"] for r in group)
            row[f"{who}_recall"] = statistics.fmean(r[who]["recall"] for r in group)
    return row


def summarize(result: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    runs = result["runs"]
    rows = []
    for dataset in dict.fromkeys(r["dataset"] for r in runs):
        group = [r for r in runs if r["dataset"] == dataset]
        rows.append(_row(dataset, METRIC[group[0]["regtune"]["task"]], group))
    if result["service_runs"]:
        rows.append(_row("diabetes (service end to end)", "r2", result["service_runs"]))
    headers = [
        "dataset",
        "metric",
        "splits",
        "regtune (refit)",
        "scikit-learn CV",
        "difference ± SE",
        "≥ sklearn − 1 SE",
        "regtune s",
        "scikit-learn s",
        "support precision / recall (regtune; scikit-learn)",
    ]
    table_rows = [
        [
            r["dataset"],
            r["metric"],
            r["splits"],
            f"{r['regtune']:.4f}",
            f"{r['sklearn']:.4f}",
            f"{r['difference']:+.4f} ± {r['se']:.4f}",
            {True: "yes", False: "no", None: "n/a"}[r["at_least_sklearn_minus_se"]],
            f"{r['regtune_s']:.2f}",
            f"{r['sklearn_s']:.2f}",
            f"{r['regtune_precision']:.2f} / {r['regtune_recall']:.2f}; "
            f"{r['sklearn_precision']:.2f} / {r['sklearn_recall']:.2f}"
            if "regtune_precision" in r
            else "",
        ]
        for r in rows
    ]
    return rows, harness.table(headers, table_rows)


def main(argv: list[str] | None = None) -> None:
    args = harness.parse_args(
        __doc__ or "",
        argv,
        extra={
            "--datasets": {"default": None, "help": "comma-separated (default: all)"},
            "--service": {"action": "store_true", "help": "also run diabetes end to end"},
        },
    )
    datasets = (
        args.datasets.split(",")
        if args.datasets
        else (["diabetes", "sparse"] if args.quick else list(DATASETS))
    )
    repeats = args.repeats or (2 if args.quick else 10)
    result = measure(args.quick, repeats, datasets, args.service)
    rows, markdown = summarize(result)
    harness.publish(args.out, "quality", {"quick": args.quick, "rows": rows, **result}, markdown)


if __name__ == "__main__":
    main()
