"""Are regtune's tuned linear models, with the defaults, as good as scikit-learn's CV estimators?

For every dataset and each of ``--repeats`` random splits (split seed s = 0, 1, ...; 20 % test,
as ``regtune.worker.data.split_test`` makes it), on the same test rows, at each configuration count
N (``--configurations``, default 30, 300 and 700):

* **regtune, in process**: a study of N configurations with the defaults (no validation given,
  so the default rule chooses: 5 folds for these data; the exact solver with λ paths; TPE seeded
  s; the default pruner), run on a SQLite file by one worker in the bench's process as
  ``regtune worker`` runs it; the best model it saves (the refit of the chosen configuration on
  every non-test row) scored on the test rows. One study per N: a path's length depends on the
  budget (at most N / 8 points), so the first N trials of a bigger study are not an N-study.
* **scikit-learn**: ``ElasticNetCV`` (regression) or elastic-net ``LogisticRegressionCV``
  (classification, saga), standardized in a pipeline, 5-fold CV on the same non-test rows, then
  refit on all of them, scoring N configurations: 10 α (or C) × 3 l1 ratios at 30, 100 × 3 at
  300, 100 × scikit-learn's 7 default l1 ratios at 700 (``LassoCV`` with N α on the sparse data).

Reported per dataset and N: the paired mean difference regtune − scikit-learn of the test metric
(R² or accuracy) ± its standard error over the splits, regtune's paired difference against its
own 30-configuration result (more trials must not make it worse), and wall times. On the sparse
synthetic data (true support known) regtune searches λ with ``l1_ratio: 1``; the precision and
recall of the selected features (non-zero coefficients) against the true support are reported.

``--relax 0`` (a number: fixed) or ``--relax 0,1`` (a range) gives regtune's studies that
``search_space.relax`` instead of the default's (searched over [0, 0.8] for these regressions),
to measure the default against the elastic net alone and against relaxing all the way; the
results go to ``quality-relax-<value>.json``. ``--select one_se`` gives them
``objective.select: one_se`` (glmnet's ``lambda.1se``) instead of the best value
(``quality-select-one_se.json``); ``--folds 10`` gives them ``validation.folds`` 10 instead
of what the default rule chooses (``quality-folds-10.json``); scikit-learn keeps its 5.

Where a difference comes from (a second table): regtune's refit at the configuration the CV
estimator chose (its α or C and l1_ratio in regtune's parameters), which compares the estimators
and leaves the choice out, and for classification regtune's choice with the CV estimator's
l1_ratio instead of its own; each − scikit-learn, paired by split.

For classification the test log loss (the mean cross-entropy, what both sides select by on
their validation folds) is reported too, as the paired difference regtune − scikit-learn (lower
is better).

``--independent-folds`` also fits scikit-learn's estimator on a third partition of the same
non-test rows, drawn independently of both (``KFold`` / ``StratifiedKFold``, shuffled, seeded
with the split's seed + ``INDEPENDENT_OFFSET``), and reports regtune − that: where regtune's
folds and scikit-learn's own are both random partitions of shuffled rows, a third tells whether
a difference on scikit-learn's own folds is the tuner or the luck of that one draw.

``--baseline-max N`` fits scikit-learn only at configuration counts up to N: where its saga fits
take hours (elastic-net ``LogisticRegressionCV`` on digits: 2.5 minutes a split at 30
configurations, about ten times that at 300), regtune's rows above N give its test metric and its
difference from its own first row (more trials must not make it worse) without the baseline.

``--service`` also runs regtune end to end for one dataset (diabetes): the non-test rows
uploaded as a CSV, a study created through the API and run by one worker, the best model
downloaded and ``predict`` run on the test rows' CSV; wall time from the upload to the
prediction.

    python -m bench.quality [--quick] [--repeats 10] [--datasets iris,diabetes]
        [--configurations 30,300,700] [--relax 0 | --relax 0,1] [--select one_se] [--folds 10]
        [--relax-margin 0] [--independent-folds] [--baseline-max 30] [--service]
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench import harness
from bench.quality_summary import METRIC, summarize

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
LARGE: dict[str, dict[str, Any]] = {
    "sparse-20k": {
        "synthetic": {
            "kind": "sparse_regression",
            "n_samples": 20_000,
            "n_features": 100,
            "n_informative": 10,
            "noise": 5.0,
        }
    },
    "friedman1-20k": {"synthetic": {"kind": "friedman1", "n_samples": 20_000}},
}
"""20,000-row data, named with ``--datasets`` only (not among the defaults): where the work a
study does on the rows shows, as on the uploads of 900–20,000 rows users bring."""
KNOWN = {**DATASETS, **LARGE}
CONFIGURATIONS = (30, 300, 700)
FOLDS = 5
"""The CV estimators' folds, and what the default rule chooses for regtune on these data."""
QUICK_CONFIGURATIONS = (3, 6)
INDEPENDENT_OFFSET = 777
"""Added to the split's seed for the independent fold draw (``--independent-folds``)."""


@dataclass(frozen=True)
class Variant:
    """What regtune's studies set instead of the defaults: a ``search_space.relax`` (a number,
    or {low, high}), an ``objective.select``, ``validation.folds``, an
    ``objective.relax_margin``."""

    relax: Any = None
    select: str | None = None
    folds: int | None = None
    relax_margin: float | None = None
    stop: dict[str, Any] | None = None
    """A ``budget.stop`` (``bench.stopping``)."""

    @property
    def name(self) -> str:
        """The results' file name."""
        name = "quality"
        if self.relax is not None:
            ends = self.relax.values() if isinstance(self.relax, dict) else [self.relax]
            name += "-relax-" + "-".join(f"{v:g}" for v in ends)
        if self.select is not None:
            name += f"-select-{self.select}"
        if self.folds is not None:
            name += f"-folds-{self.folds}"
        if self.relax_margin is not None:
            name += f"-relax-margin-{self.relax_margin:g}"
        if self.stop is not None:
            name += "-stop-" + "-".join(f"{k}-{v:g}" for k, v in self.stop.items())
        return name


DEFAULTS = Variant()


def definition(
    dataset: str, seed: int, n_trials: int, variant: Variant = DEFAULTS
) -> dict[str, Any]:
    """The study with the defaults: only the data, the searched space and the seeds given, but
    for what ``variant`` sets."""
    space: dict[str, Any] = {
        "lambda": {"low": 1e-6, "high": 10.0, "log": True},
        "l1_ratio": 1.0 if dataset == "sparse" else {"low": 0.0, "high": 1.0},
    }
    if variant.relax is not None:
        space["relax"] = variant.relax
    objective: dict[str, Any] = {"select": variant.select} if variant.select is not None else {}
    if variant.relax_margin is not None:
        objective["relax_margin"] = variant.relax_margin
    folds = {"folds": variant.folds} if variant.folds is not None else {}
    return {
        "name": f"quality-{dataset}-{seed}",
        "dataset": KNOWN[dataset],
        "model": {"kind": "linear"},
        "search_space": space,
        **({"objective": objective} if objective else {}),
        "validation": {"test_fraction": 0.2, "split_seed": seed, **folds},
        "sampler": {"type": "tpe", "seed": seed},
        "budget": {"n_trials": n_trials, **({"stop": variant.stop} if variant.stop else {})},
    }


def _split(dataset: str, seed: int) -> tuple[Any, np.ndarray, np.ndarray]:
    from regtune.service.spec.definition import StudySpec
    from regtune.worker import data

    spec = StudySpec.model_validate(definition(dataset, seed, 1))
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


def run_regtune(
    dataset: str, seed: int, counts: list[int], variant: Variant = DEFAULTS
) -> dict[int, dict[str, Any]]:
    """For each N in ``counts``, a study of N configurations with the defaults run by one worker
    in this process on the bench's database, as ``regtune worker`` runs it; its best model (the
    worker's refit on every non-test row) scored on the test rows: test metric, wall time from
    creation to the saved model, selected features."""
    import optuna

    from regtune.service.spec.definition import StudySpec
    from regtune.service.store.db import transaction
    from regtune.service.store.repos.best_model import read_info
    from regtune.service.store.scheduling.retries import get_storage
    from regtune.service.store.tables import StudyRow
    from regtune.worker.models import penalized_weights
    from regtune.worker.refit import best_fit

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    loaded, _, _ = _split(dataset, seed)
    found: dict[int, dict[str, Any]] = {}
    for n in counts:
        spec = definition(dataset, seed, n, variant)
        spec["name"] = f"{variant.name}-{dataset}-{seed}-{n}"
        started = time.perf_counter()
        study_id, _ = harness.run_in_process(spec)
        wall = time.perf_counter() - started
        with transaction() as session:
            row = session.get(StudyRow, study_id)
            assert row is not None and row.optuna_study_id is not None
            stored = StudySpec.from_stored(row.spec)
            record = read_info(session, row.optuna_study_id)
            optuna_name = row.optuna_name
        assert record is not None, f"{spec['name']}: no best model saved"
        metric = METRIC[stored.task.value]
        study = optuna.load_study(study_name=optuna_name, storage=get_storage())
        trials = study.get_trials(deepcopy=False)
        best = next(t for t in trials if t.number == record["trial"])
        support = {}
        if loaded.true_support is not None:  # the saved model's weights: the same refit again
            fitted = best_fit(stored, best.params, best.user_attrs)
            coef = penalized_weights(fitted.result.models[0])[0].detach().numpy()
            support = _support(np.abs(coef).max(axis=0), loaded.true_support)
        found[n] = {
            "task": stored.task.value,
            "folds": stored.validation.folds or 1,
            "test": float(record["test_metrics"][metric]),
            **(
                {"test_loss": float(record["test_metrics"]["loss"])}
                if stored.task.value != "regression"
                else {}
            ),
            "wall_s": wall,
            "params": best.params,
            "trials": len(trials),
            "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in trials),
            **support,
        }
    return found


def grid(count: int) -> tuple[int, list[float]]:
    """(α or C values, l1 ratios) whose product is ``count`` configurations: 10 × 3 at 30,
    100 × 3 at 300, 100 × scikit-learn's 7 default l1 ratios at 700; otherwise ``count`` × 1."""
    if count % 7 == 0 and count >= 700:
        return count // 7, [0.1, 0.5, 0.7, 0.9, 0.95, 0.99, 1.0]
    if count % 3 == 0 and count >= 30:
        return count // 3, [0.1, 0.5, 1.0]
    return count, [0.5]


def default_configurations(task: str) -> int:
    """What the CV estimators score by default: 100 α × 7 l1 ratios (``ElasticNetCV`` with
    scikit-learn's own l1 ratios), 10 C × 3 l1 ratios for ``LogisticRegressionCV``."""
    return 700 if task == "regression" else 30


def sklearn_model(dataset: str, task: str, count: int, quick: bool, cv: Any = FOLDS) -> Any:
    """scikit-learn's CV estimator scoring ``count`` configurations, each on 5 folds: its own
    (``cv`` 5) or those given."""
    from sklearn.linear_model import ElasticNetCV, LassoCV, LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model: Any
    alphas, l1_ratios = grid(count)
    if dataset == "sparse":
        model = LassoCV(alphas=count, cv=cv)
    elif task == "regression":
        model = ElasticNetCV(alphas=alphas, l1_ratio=l1_ratios, cv=cv)
    else:
        model = LogisticRegressionCV(
            Cs=alphas,
            l1_ratios=l1_ratios,
            solver="saga",
            scoring="neg_log_loss",
            cv=cv,
            max_iter=100 if quick else 2000,
            random_state=0,
        )
    return make_pipeline(StandardScaler(), model)


def run_sklearn(
    dataset: str,
    seed: int,
    count: int,
    quick: bool,
    *,
    regtunes_folds: bool = False,
    cv: Any = None,
) -> dict[str, Any]:
    """The CV estimator on split ``seed``: on its own folds (contiguous ``KFold`` or
    ``StratifiedKFold``, unshuffled), or ``regtunes_folds``: on the folds regtune's study drew
    (``regtune.worker.data.fold_positions``), which takes the fold draw out of the comparison,
    or on ``cv`` (a scikit-learn splitter); its wall and CPU seconds."""
    from sklearn.metrics import accuracy_score, log_loss, r2_score

    from regtune.worker.data import fold_positions

    loaded, rest, test = _split(dataset, seed)
    if cv is None:
        cv = fold_positions(loaded, rest, FOLDS, seed) if regtunes_folds else FOLDS
    model = sklearn_model(dataset, loaded.task, count, quick, cv)
    started, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and API-transition warnings
        model.fit(loaded.X[rest], loaded.y[rest])
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    chosen = _chosen(model[-1], loaded.task, loaded.X[rest], loaded.y[rest])
    predicted = model.predict(loaded.X[test])
    regression = loaded.task == "regression"
    y = loaded.y[test]
    score = r2_score(y, predicted) if regression else accuracy_score(y, predicted)
    coef = np.abs(np.atleast_2d(model[-1].coef_)).max(axis=0)
    loss = (
        {}
        if regression
        else {
            "test_loss": float(
                log_loss(y, model.predict_proba(loaded.X[test]), labels=model.classes_)
            )
        }
    )
    return {
        "task": loaded.task,
        "test": float(score),
        **loss,
        "wall_s": wall,
        "cpu_s": cpu,
        "chosen": chosen,
        **_support(coef, loaded.true_support),
    }


def _chosen(estimator: Any, task: str, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """The configuration a fitted CV estimator chose, in regtune's parameters for its refit on
    the non-test rows ``X``, ``y``.

    ``LogisticRegression``'s C weighs the summed cross-entropy where regtune's λ weighs the
    penalty against the mean: λ = 1 / (C · rows). ``ElasticNet``'s objective is regtune's but
    on the raw target, where regtune standardizes it (scale s, ``Standardizer``): with w = s·v,
    the objective divided by s² is regtune's in v with λ·ρ' = α·ρ / s and λ·(1 − ρ') =
    α·(1 − ρ)."""
    from regtune.service.model.standardizer import Standardizer

    if task != "regression":
        return {
            "lambda": 1.0 / (float(np.ravel(estimator.C_)[0]) * len(y)),
            "l1_ratio": float(np.ravel(estimator.l1_ratio_)[0]),
        }
    alpha = float(estimator.alpha_)
    rho = float(getattr(estimator, "l1_ratio_", 1.0))  # LassoCV: the lasso
    scale = Standardizer.fit(X, y, task).y_scale  # the refit's own
    l1, l2 = alpha * rho / scale, alpha * (1 - rho)
    return {"lambda": l1 + l2, "l1_ratio": l1 / (l1 + l2)}


def refit_at(
    dataset: str, seed: int, n: int, params: dict[str, float], variant: Variant = DEFAULTS
) -> dict[str, float]:
    """The best model regtune's study on split ``seed`` would have saved had it chosen
    ``params``: its refit on every non-test row (``best_fit``), scored on the test rows. A
    relax that ``params`` leave out is 0, the elastic net."""
    from regtune.service.spec.definition import StudySpec
    from regtune.service.spec.resolve import resolve_relax, resolve_task
    from regtune.worker.best_model import loaded
    from regtune.worker.refit import best_fit

    spec = StudySpec.model_validate(definition(dataset, seed, n, variant))
    spec = resolve_relax(resolve_task(spec))
    values = {"relax": 0.0, **params} if spec.search_space.relax is not None else dict(params)
    data, _, test = _split(dataset, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = best_fit(spec, values, {})
    scores = loaded(data, fitted).score(data.X[test], data.y[test])
    found = {"test": float(scores[METRIC[spec.task.value]])}
    if spec.task.value != "regression":
        found["test_loss"] = float(scores["loss"])
    return found


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
        service.start_api("--workers", "1").start_workers(1)
        with Client(service.url) as client:
            started = time.perf_counter()
            uploaded = client.upload_dataset(frames["train"], target="target")
            spec = definition("diabetes", seed, n_trials)
            spec["dataset"] = {"id": uploaded.id}
            study_id = service.submit(spec)
            done = client.wait(study_id, timeout=600 + 60 * n_trials)
            assert done.status == "completed", service.logs()[-3000:]
            assert done.best_model is not None, "no best model saved"
            path = client.download_best_model(study_id, tmp / f"best-{seed}.safetensors")
            saved = modelfile.load(path)
            table = pd.read_csv(frames["test"])
            scored = saved.score(saved.features(table), table["target"].to_numpy())
            wall = time.perf_counter() - started
    return {
        "test": scored["r2"],
        "wall_s": wall,
        "train_rows": saved.info.get("train_rows"),
        "validation": done.validation.scheme if done.validation else None,
    }


@contextmanager
def study_database(label: str, datasets: list[str]) -> Iterator[None]:
    """A scratch SQLite database and artifact store for studies run in this process
    (``run_regtune``), migrated, with a small study of each of ``datasets`` run first: data
    loading and torch's first calls are not timed."""
    from regtune.service.store.migrate import upgrade

    with harness.scratch(f"{label}-studies") as tmp:
        os.environ["REGTUNE_ARTIFACT_DIR"] = str(tmp / "artifacts")
        url = harness.fresh_database("sqlite", tmp, None, label)
        harness.use_database(url)
        upgrade(url)
        for dataset in datasets:
            run_regtune(dataset, 0, [8])
        yield


def measure(
    quick: bool,
    repeats: int,
    datasets: list[str],
    counts: list[int],
    service: bool,
    variant: Variant = DEFAULTS,
    independent: bool = False,
    baseline_max: int | None = None,
) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    with study_database("quality", datasets):
        for dataset in datasets:
            for seed in range(repeats):
                runs.extend(
                    _compare(dataset, seed, counts, quick, variant, independent, baseline_max)
                )
    service_runs: list[dict[str, Any]] = []
    if service:
        with harness.scratch("quality") as tmp:
            for seed in range(min(repeats, 3)):
                ours = run_service(seed, min(counts), tmp)
                theirs = run_sklearn("diabetes", seed, min(counts), quick)
                service_runs.append(
                    {
                        "seed": seed,
                        "configurations": min(counts),
                        "regtune": ours,
                        "sklearn": theirs,
                    }
                )
                print(f"  service diabetes split {seed} {ours} sklearn {theirs}", flush=True)
    return {"runs": runs, "service_runs": service_runs}


def independent_folds(task: str, seed: int) -> Any:
    """5 folds drawn independently of regtune's and of scikit-learn's own
    (``--independent-folds``)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    kind = KFold if task == "regression" else StratifiedKFold
    return kind(FOLDS, shuffle=True, random_state=seed + INDEPENDENT_OFFSET)


def _compare(
    dataset: str,
    seed: int,
    counts: list[int],
    quick: bool,
    variant: Variant = DEFAULTS,
    independent: bool = False,
    baseline_max: int | None = None,
) -> list[dict[str, Any]]:
    """regtune and scikit-learn on one split, at each configuration count (scikit-learn only
    up to ``baseline_max``, when given: above it, ``"sklearn"`` is None)."""
    ours = run_regtune(dataset, seed, counts, variant)
    runs = []
    for n in counts:
        theirs = None
        if baseline_max is None or n <= baseline_max:
            theirs = _baseline(dataset, seed, n, quick, variant, independent, ours[n])
        runs.append(
            {
                "dataset": dataset,
                "seed": seed,
                "configurations": n,
                "regtune": ours[n],
                "sklearn": theirs,
            }
        )
        print(
            f"  {dataset:13s} split {seed} N {n:4d} regtune {ours[n]['test']:.4f} "
            f"({ours[n]['wall_s']:.1f} s, {ours[n]['folds']} fold(s)) "
            + (
                f"sklearn {theirs['test']:.4f} ({theirs['wall_s']:.1f} s)"
                if theirs
                else "sklearn not run"
            ),
            flush=True,
        )
    return runs


def _baseline(
    dataset: str,
    seed: int,
    n: int,
    quick: bool,
    variant: Variant,
    independent: bool,
    ours: dict[str, Any],
) -> dict[str, Any]:
    """scikit-learn's CV estimator on split ``seed`` at ``n`` configurations, and where its
    difference from regtune's study ``ours`` comes from."""
    theirs = run_sklearn(dataset, seed, n, quick)
    # where a difference comes from: the estimator (regtune at scikit-learn's choice) or,
    # for classification, the choice of l1_ratio (regtune's, but scikit-learn's l1_ratio)
    theirs["regtune_at_choice"] = refit_at(dataset, seed, n, theirs["chosen"], variant)
    if ours["task"] != "regression":  # there, l1_ratio means the same on both sides
        ours["at_sklearns_l1_ratio"] = refit_at(
            dataset,
            seed,
            n,
            {**ours["params"], "l1_ratio": theirs["chosen"]["l1_ratio"]},
            variant,
        )
    if ours["folds"] == FOLDS:  # the default rule chose the CV estimators' 5 folds
        theirs["on_regtunes_folds"] = run_sklearn(dataset, seed, n, quick, regtunes_folds=True)
    if independent:
        cv = independent_folds(ours["task"], seed)
        theirs["on_independent_folds"] = run_sklearn(dataset, seed, n, quick, cv=cv)
    return theirs


def main(argv: list[str] | None = None) -> None:
    args = harness.parse_args(
        __doc__ or "",
        argv,
        extra={
            "--datasets": {"default": None, "help": "comma-separated (default: all)"},
            "--configurations": {
                "default": None,
                "help": "comma-separated configuration counts (default: 30,300,700)",
            },
            "--service": {"action": "store_true", "help": "also run diabetes end to end"},
            "--independent-folds": {
                "action": "store_true",
                "help": "also fit scikit-learn on a fold draw independent of both sides'",
            },
            "--relax": {
                "default": None,
                "help": "regtune's search_space.relax: a number or LOW,HIGH (default: the "
                "definition's default)",
            },
            "--select": {
                "default": None,
                "choices": ["best", "one_se"],
                "help": "regtune's objective.select (default: the definition's default)",
            },
            "--folds": {
                "type": int,
                "default": None,
                "help": "regtune's validation.folds (default: what the default rule chooses)",
            },
            "--baseline-max": {
                "type": int,
                "default": None,
                "help": "fit scikit-learn only at configuration counts up to this (default: all)",
            },
            "--relax-margin": {
                "type": float,
                "default": None,
                "help": "regtune's objective.relax_margin (default: the definition's default; "
                "0: the best value, relaxed or not)",
            },
        },
    )
    datasets = (
        args.datasets.split(",")
        if args.datasets
        else (["diabetes", "sparse"] if args.quick else list(DATASETS))
    )
    counts = (
        [int(n) for n in args.configurations.split(",")]
        if args.configurations
        else list(QUICK_CONFIGURATIONS if args.quick else CONFIGURATIONS)
    )
    repeats = args.repeats or (2 if args.quick else 10)
    variant = Variant(_relax(args.relax), args.select, args.folds, args.relax_margin)
    result = measure(
        args.quick,
        repeats,
        datasets,
        counts,
        args.service,
        variant,
        args.independent_folds,
        args.baseline_max,
    )
    rows, markdown = summarize(result)
    harness.publish(
        args.out,
        variant.name,
        {
            "quick": args.quick,
            "counts": counts,
            "relax": variant.relax,
            "select": variant.select,
            "folds": variant.folds,
            "relax_margin": variant.relax_margin,
            "baseline_max": args.baseline_max,
            "rows": rows,
            **result,
        },
        markdown,
    )


def _relax(given: str | None) -> Any:
    """``--relax``: None, a fixed value, or {low, high}."""
    if given is None:
        return None
    low, _, high = given.partition(",")
    return float(low) if not high else {"low": float(low), "high": float(high)}


if __name__ == "__main__":
    main()
