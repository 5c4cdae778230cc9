"""A study definition turned into an Optuna objective: suggest, train, report, prune."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from cachetools import LRUCache

from regtune.service.settings import get_settings
from regtune.service.spec.definition import StudySpec
from regtune.service.spec.objective import objective_names
from regtune.service.spec.resolve import resolve_validation
from regtune.service.spec.validation import Validation
from regtune.service.store.optuna_db.attrs import (
    DIVERGED_ATTR,
    DIVERGED_EPOCH_ATTR,
    FEASIBLE_ATTR,
    STOPPED_EARLY_ATTR,
    VAL_CURVE_ATTR,
)
from regtune.service.store.optuna_db.internals.batched import set_user_attrs
from regtune.service.store.optuna_db.internals.handles import trial_id_of
from regtune.worker import data
from regtune.worker.coefficients import coefficient_attrs, linear_weights, record_coefficients
from regtune.worker.models import count_nonzero_of, nonzero_inputs_of
from regtune.worker.paths import Grid, PathSlots, Point, run_path
from regtune.worker.search import StopCheck, suggest
from regtune.worker.trainers import fit
from regtune.worker.trainers.config import EarlyStop, ExactOptions, TrainConfig
from regtune.worker.trainers.exact import WarmStarts
from regtune.worker.trainers.path import PathPoint, largest_gradient, train_path
from regtune.worker.trainers.result import TrainResult

if TYPE_CHECKING:
    from sqlalchemy import Engine


def train_config(spec: StudySpec, values: dict[str, float], *, n_out: int) -> TrainConfig:
    training = spec.training
    batch = values.get("batch_size", training.batch_size)
    stop = training.early_stopping
    return TrainConfig(
        task=spec.task,
        n_out=n_out,
        solver=spec.solver,
        model_kind=spec.model.kind,
        hidden_layers=spec.hidden_layers(values),
        batch_norm=bool(values["batch_norm"]) if "batch_norm" in values else spec.model.batch_norm,
        lam=values["lambda"],
        l1_ratio=values["l1_ratio"],
        relax=values.get("relax", 0.0),
        dropout=values["dropout"],
        input_noise=values.get("input_noise", 0.0),
        layer_penalty=values.get("layer_penalty", 1.0),
        learning_rate=values["learning_rate"],
        batch_size=None if batch == "full" else int(batch),
        optimizer=training.optimizer,
        momentum=training.momentum,
        max_epochs=training.max_epochs,
        early_stopping=EarlyStop(stop.patience, stop.min_delta, stop.restore_best)
        if stop
        else None,
        exact=ExactOptions(
            tol=training.tol, max_iter=training.max_iter, report_every=training.report_every
        ),
        seed=training.seed,
        metric=spec.objective.metric,
        direction=spec.objective.direction or "minimize",
    )


def validation_of(spec: StudySpec, dataset: data.Dataset) -> Validation:
    """The definition's validation. A study created through the API has it decided already
    (``chosen_by`` says how); a definition used directly (benches, tests) gets the same decision
    from the data: the default scheme, and an upload's test split (none under folds unless
    given), a given scheme's too."""
    if spec.validation.chosen_by is not None:
        return spec.validation
    smallest = None
    if dataset.task != "regression":
        smallest = int(np.bincount(dataset.y.astype(np.int64)).min())
    n_classes = dataset.n_classes
    return resolve_validation(
        spec,
        rows=len(dataset.y),
        features=dataset.X.shape[1],
        outputs=n_classes if n_classes > 2 else 1,
        smallest_class=smallest,
    ).validation


def prepare(
    spec: StudySpec, *, with_fill: bool = False, engine: Engine | None = None
) -> data.Splits:
    dataset = data.load(spec.dataset.model_dump(mode="json"), engine=engine)
    v = validation_of(spec, dataset)
    return data.make_splits(
        dataset,
        test_fraction=v.test_fraction,
        holdout=v.holdout,
        folds=v.folds,
        seed=v.split_seed,
        with_fill=with_fill,
    )


def n_outputs(splits: data.Splits) -> int:
    return splits.n_classes if splits.task == "multiclass" else 1


def result_attrs(result: TrainResult) -> dict[str, Any]:
    """The user attributes a trial's training leaves (the API and the dashboard show them)."""
    attrs: dict[str, Any] = {
        "n_nonzero": result.n_nonzero,
        "n_weights": result.n_weights,
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "train_seconds": round(result.train_seconds, 4),
        STOPPED_EARLY_ATTR: result.stopped_early,
        DIVERGED_ATTR: result.diverged,
    }
    if result.diverged:  # its last epoch, whose NaN or infinite value no learning curve holds
        attrs[DIVERGED_EPOCH_ATTR] = result.epochs_run
    if result.fused:  # what the best model's retraining of this trial must train it as
        attrs["fused"] = True
    if result.iterations:  # the exact solver: whether it met tol, and in how many iterations
        attrs["converged"] = result.converged
        attrs["iterations"] = max(result.iterations)
    attrs.update(result.val_metrics)
    attrs.update(result.test_metrics)
    if result.fold_values:
        attrs["fold_values"] = [round(v, 8) for v in result.fold_values]
    return attrs


def sparsity(result: TrainResult) -> dict[str, float]:
    """Non-zero weights and input features in use, averaged over the folds' models."""
    stacked = result.stacked_weights
    if stacked is not None:  # a path's point: (folds, outputs, inputs), counted at once
        return {
            "n_nonzero": np.count_nonzero(stacked) / len(stacked),
            "n_inputs": np.count_nonzero(stacked.any(axis=1)) / len(stacked),
        }
    weights = result.fold_weights()
    return {
        "n_nonzero": sum(count_nonzero_of(w)[0] for w in weights) / len(weights),
        "n_inputs": sum(nonzero_inputs_of(w) for w in weights) / len(weights),
    }


def constrain(trial: optuna.Trial, spec: StudySpec, result: TrainResult) -> None:
    """``objective.max_nonzero`` as an Optuna constraint (feasible when ≤ 0)."""
    limit = spec.objective.max_nonzero
    if limit is None:
        return
    trial.set_constraint("max_nonzero", float(result.n_nonzero - limit))
    trial.set_user_attr(FEASIBLE_ATTR, result.n_nonzero <= limit)


STUDIES_WARM = 32
"""Studies whose solutions a worker keeps as warm starts."""
_warm: LRUCache[str, WarmStarts] = LRUCache(maxsize=STUDIES_WARM)


def _splits_bytes(splits: data.Splits) -> int:
    """A study's folds' rows, and what trainers derive from each fold and keep with it
    (``Fold.derived``), counted when the folds are cached: for regression a float64 Gram matrix
    of the features and its few vectors (``FoldMoments``); for classification a number."""
    rows = sum(
        array.nbytes
        for f in splits.folds
        for array in (f.X_train, f.y_train, f.X_val, f.y_val, f.X_test, f.y_test)
    )
    if splits.task != "regression":
        return rows
    return rows + sum(8 * (f.X_train.shape[1] + 2) ** 2 for f in splits.folds)


@lru_cache
def _prepared() -> LRUCache[str, data.Splits]:
    """Studies' folds a worker keeps, so that a claim of the same study needs no split of its
    own; bounded in bytes as the datasets are (a study's folds copy its data k + 1 times)."""
    return LRUCache(maxsize=data.cache_bytes(), getsizeof=_splits_bytes)


def _key(spec: StudySpec) -> str:
    return hashlib.sha256(json.dumps(spec.to_stored(), sort_keys=True).encode()).hexdigest()


def warm_starts(study: optuna.Study, spec: StudySpec) -> WarmStarts:
    """This process's solved configurations of the study (its definition: the same folds, as
    ``prepare`` is deterministic, and the same task). Kept per study, not per definition: a
    study submitted again (after a delete, or by another tenant) would start from the first
    one's solutions and end elsewhere within ``tol``, in other iteration counts."""
    key = f"{study.study_name}\n{_key(spec)}"
    found = _warm.get(key)
    if found is None:
        found = _warm[key] = WarmStarts()
    return found


def prepared(spec: StudySpec) -> data.Splits:
    """``prepare(spec)``, once per study in this process while it fits ``_prepared``: every
    claim trains on the same folds (read, never changed)."""
    key, cache = _key(spec), _prepared()
    found = cache.get(key)
    if found is None:
        found = prepare(spec)
        if _splits_bytes(found) <= cache.maxsize:  # else made again by every claim
            cache[key] = found
    return found


def reporter(
    trial: optuna.Trial, metric: str, *, multi: bool, stop_check: StopCheck
) -> Callable[[int, dict[str, float]], bool]:
    """The trial's epoch hook: report the metric, see a stop, say whether to prune."""

    def on_epoch(epoch: int, metrics: dict[str, float]) -> bool:
        if multi:  # Optuna neither records nor prunes multi-objective learning curves
            stop_check()
            return False
        trial.report(metrics[metric], epoch)
        stop_check()
        return trial.should_prune()

    return on_epoch


def outcome(
    trial: optuna.Trial, spec: StudySpec, result: TrainResult, names: list[str]
) -> float | list[float]:
    """Record a finished training on its trial; its value(s), or ``TrialPruned``."""
    multi = len(names) > 1
    measures = {**result.val_metrics, **sparsity(result)}
    attrs = result_attrs(result) | {"n_inputs": measures["n_inputs"]}
    if multi:
        attrs[VAL_CURVE_ATTR] = result.curve
    set_user_attrs(trial, attrs)  # one write, not one per attribute
    constrain(trial, spec, result)
    if result.pruned:
        raise optuna.TrialPruned(f"pruned at epoch {result.epochs_run}")
    if multi:
        return [result.value, *(measured(measures, name) for name in names[1:])]
    return result.value


def measured(measures: dict[str, float], name: str) -> float:
    """The objective ``name`` among a trial's ``measures``; a ``ValueError`` naming it and
    what the trial measured if it is not one (was: a bare ``KeyError: 'val_r2'``)."""
    try:
        return measures[name]
    except KeyError:
        raise ValueError(
            f"the trial measured no {name}: its task measures {', '.join(sorted(measures))}"
        ) from None


def set_threads() -> None:
    """``REGTUNE_TORCH_THREADS`` compute threads per worker, torch's and the BLAS numpy and
    scipy call alike: a worker runs the small products of a λ path's points in numpy, and a
    BLAS on one thread per core in every worker process of a pool spins more than it computes
    (a 700-configuration study took 1.6× the CPU with numpy's OpenBLAS on 2 threads here)."""
    import torch

    threads = get_settings().torch_threads
    torch.set_num_threads(threads)
    _limit_blas(threads, len(sys.modules))


@lru_cache(maxsize=1)
def _limit_blas(threads: int, modules: int) -> None:
    """Limit the BLAS libraries loaded so far; again once modules were imported (one may have
    loaded another BLAS), not at every claim: looking for them costs about a millisecond."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")


def make_objective(
    spec: StudySpec, *, stop_check: StopCheck, slots: PathSlots | None = None
) -> Callable[[optuna.Trial], float | list[float]]:
    """The study's objective; with ``slots`` (lent by the loop) and ``training.lambda_path``
    set, each trial solves a λ path and stores its further points as trials
    (``regtune.worker.paths``)."""
    set_threads()
    splits = prepared(spec)
    names = objective_names(spec)
    linear = spec.model.kind == "linear"
    exact = spec.solver == "exact"

    def objective(trial: optuna.Trial) -> float | list[float]:
        warm = warm_starts(trial.study, spec) if exact else None
        values = suggest(trial, spec)
        config = train_config(spec, values, n_out=n_outputs(splits))
        on_epoch = reporter(trial, config.metric, multi=len(names) > 1, stop_check=stop_check)
        start = None if warm is None else warm.nearest(config.lam, config.l1_ratio)
        result = fit(config, splits.folds, on_epoch, warm_start=start, stop=stop_check)
        if warm is not None and result.converged:
            warm.add(config.lam, config.l1_ratio, result.states)
        if linear:  # the report's coefficient path
            weights = linear_weights(result.models)
            record_coefficients(trial.storage, trial_id_of(trial), weights, splits.feature_names)
        return outcome(trial, spec, result, names)

    if slots is None or spec.training.lambda_path is None:
        return objective
    path = spec.training.lambda_path
    assert exact, "paths run under the exact solver"

    gradient = largest_gradient(splits.folds, task=spec.task, n_out=n_outputs(splits))

    def solve(warm: WarmStarts, values: dict[str, float], grid: Grid) -> list[Point]:
        config = train_config(spec, {**values, "lambda": grid.high}, n_out=n_outputs(splits))
        lambdas = grid.lambdas(gradient, l1_ratio=config.l1_ratio)
        found = train_path(
            config,
            splits.folds,
            lambdas,
            patience=path.patience,
            warm_start=warm.nearest(lambdas[0], config.l1_ratio),
            stop=stop_check,
            relax=grid.relax or None,
        )
        first = found[0].relax
        for point in found:  # a λ's relax values share its solution: once per λ
            if point.result.converged and point.relax == first:
                warm.add(point.lam, config.l1_ratio, point.result.states)
        relaxed = bool(grid.relax)
        return [_point(spec, names, point, splits.feature_names, relaxed) for point in found]

    def path_objective(trial: optuna.Trial) -> float | list[float]:
        warm = warm_starts(trial.study, spec)
        return run_path(trial, spec, slots=slots, solve=partial(solve, warm), single=objective)

    return path_objective


def _point(
    spec: StudySpec, names: list[str], point: PathPoint, inputs: list[str], relaxed: bool
) -> Point:
    """A path's point as the trial at its λ records it (``record``, ``constrain``, the report's
    coefficients). What a single trial writes once trained goes into ``Point.user_attrs`` /
    ``Point.system_attrs`` here instead: the path writes all its points in one commit."""
    result = point.result
    relax = point.relax if relaxed else None
    stacked = result.stacked_weights
    weights = [w[0] for w in result.fold_weights()] if stacked is None else stacked
    coefficients = coefficient_attrs(weights, inputs)
    measures = {**result.val_metrics, **sparsity(result)}
    attrs = result_attrs(result) | {"n_inputs": measures["n_inputs"]}
    constraints: dict[str, float] = {}
    limit = spec.objective.max_nonzero
    if limit is not None:
        constraints["max_nonzero"] = float(result.n_nonzero - limit)
        attrs[FEASIBLE_ATTR] = result.n_nonzero <= limit
    if len(names) > 1:  # Optuna records no learning curve of several objectives
        attrs[VAL_CURVE_ATTR] = result.curve
        values = [result.value, *(measured(measures, name) for name in names[1:])]
        return Point(point.lam, values, attrs, constraints, system_attrs=coefficients, relax=relax)
    # a warm-started point's curve is the warm start's, not training's: its last value only
    curve = {result.epochs_run: result.value}
    return Point(point.lam, [result.value], attrs, constraints, curve, coefficients, relax)
