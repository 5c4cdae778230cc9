"""A study definition turned into an Optuna objective: suggest, train, report, prune."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import optuna

from regtune.service.settings import get_settings
from regtune.service.spec.definition import StudySpec
from regtune.service.spec.objective import objective_names
from regtune.worker import data
from regtune.worker.models import count_nonzero, nonzero_inputs
from regtune.worker.search import StopCheck, suggest
from regtune.worker.trainers import fit
from regtune.worker.trainers.config import EarlyStop, ExactOptions, TrainConfig
from regtune.worker.trainers.result import TrainResult


def train_config(spec: StudySpec, values: dict[str, float], *, n_out: int) -> TrainConfig:
    training = spec.training
    batch = values.get("batch_size", training.batch_size)
    stop = training.early_stopping
    return TrainConfig(
        task=spec.task,
        n_out=n_out,
        solver=spec.solver,
        model_kind=spec.model.kind,
        hidden_layers=tuple(spec.model.hidden_layers),
        batch_norm=bool(values["batch_norm"]) if "batch_norm" in values else spec.model.batch_norm,
        lam=values["lambda"],
        l1_ratio=values["l1_ratio"],
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


def prepare(spec: StudySpec, *, with_fill: bool = False) -> data.Splits:
    dataset = data.load(spec.dataset.model_dump(mode="json"))
    v = spec.validation
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


def record(trial: optuna.Trial, result: TrainResult) -> None:
    attrs: dict[str, Any] = {
        "n_nonzero": result.n_nonzero,
        "n_weights": result.n_weights,
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "train_seconds": round(result.train_seconds, 4),
        "stopped_early": result.stopped_early,
        "diverged": result.diverged,
    }
    if result.iterations:  # the exact solver: whether it met tol, and in how many iterations
        attrs["converged"] = result.converged
        attrs["iterations"] = max(result.iterations)
    attrs.update(result.val_metrics)
    attrs.update(result.test_metrics)
    if result.fold_values:
        attrs["fold_values"] = [round(v, 8) for v in result.fold_values]
    for key, value in attrs.items():
        trial.set_user_attr(key, value)


def sparsity(result: TrainResult) -> dict[str, float]:
    """Non-zero weights and input features in use, averaged over the folds' models."""
    return {
        "n_nonzero": float(np.mean([count_nonzero(m)[0] for m in result.models])),
        "n_inputs": float(np.mean([nonzero_inputs(m) for m in result.models])),
    }


def constrain(trial: optuna.Trial, spec: StudySpec, result: TrainResult) -> None:
    """``objective.max_nonzero`` as an Optuna constraint (feasible when ≤ 0)."""
    limit = spec.objective.max_nonzero
    if limit is None:
        return
    trial.set_constraint("max_nonzero", float(result.n_nonzero - limit))
    trial.set_user_attr("feasible", result.n_nonzero <= limit)


def make_objective(
    spec: StudySpec, *, stop_check: StopCheck
) -> Callable[[optuna.Trial], float | list[float]]:
    import torch

    torch.set_num_threads(get_settings().torch_threads)  # REGTUNE_TORCH_THREADS per worker
    splits = prepare(spec)
    names = objective_names(spec)
    multi = len(names) > 1

    def objective(trial: optuna.Trial) -> float | list[float]:
        values = suggest(trial, spec)
        config = train_config(spec, values, n_out=n_outputs(splits))

        def on_epoch(epoch: int, metrics: dict[str, float]) -> bool:
            if multi:  # Optuna neither records nor prunes multi-objective learning curves
                stop_check()
                return False
            trial.report(metrics[config.metric], epoch)
            stop_check()
            return trial.should_prune()

        result = fit(config, splits.folds, on_epoch, stop=stop_check)
        record(trial, result)
        measures = {**result.val_metrics, **sparsity(result)}
        trial.set_user_attr("n_inputs", measures["n_inputs"])
        if multi:
            trial.set_user_attr("val_curve", result.curve)
        constrain(trial, spec, result)
        if result.pruned:
            raise optuna.TrialPruned(f"pruned at epoch {result.epochs_run}")
        if multi:
            return [result.value, *(measures[name] for name in names[1:])]
        return result.value

    return objective
