"""A study definition turned into an Optuna objective: suggest, train, report, prune."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna

from service.spec import Choices, Fixed, Range, StudySpec
from worker import data
from worker.train import EarlyStop, TrainConfig, TrainResult, train

StopCheck = Callable[[], None]
"""Called every epoch; raises to stop the trial (study cancelled, worker shutting down)."""


def suggest(trial: optuna.Trial, spec: StudySpec) -> dict[str, float]:
    values: dict[str, float] = {}
    for name, param in spec.search_space.items():
        if isinstance(param, Fixed):
            values[name] = param.value
        elif isinstance(param, Choices):
            values[name] = float(trial.suggest_categorical(name, param.choices))
        elif isinstance(param, Range) and name == "batch_size":
            values[name] = trial.suggest_int(
                name, int(param.low), int(param.high), step=int(param.step or 1), log=param.log
            )
        else:
            assert isinstance(param, Range)
            values[name] = trial.suggest_float(
                name, param.low, param.high, log=param.log, step=param.step
            )
    return values


def train_config(spec: StudySpec, values: dict[str, float], *, n_out: int) -> TrainConfig:
    training = spec.training
    batch = values.get("batch_size", training.batch_size)
    stop = training.early_stopping
    return TrainConfig(
        task=spec.task,
        n_out=n_out,
        model_kind=spec.model.kind,
        hidden_layers=tuple(spec.model.hidden_layers),
        batch_norm=spec.model.batch_norm,
        lam=values["lambda"],
        l1_ratio=values["l1_ratio"],
        dropout=values["dropout"],
        learning_rate=values["learning_rate"],
        batch_size=None if batch == "full" else int(batch),
        optimizer=training.optimizer,
        momentum=training.momentum,
        max_epochs=training.max_epochs,
        early_stopping=EarlyStop(stop.patience, stop.min_delta, stop.restore_best)
        if stop
        else None,
        seed=training.seed,
        metric=spec.objective.metric,
        direction=spec.objective.direction or "minimize",
    )


def prepare(spec: StudySpec) -> data.Splits:
    dataset = data.load(spec.dataset.model_dump(mode="json"))
    v = spec.validation
    return data.make_splits(
        dataset, test_fraction=v.test_fraction, holdout=v.holdout, folds=v.folds, seed=v.split_seed
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
    }
    attrs.update({k: v for k, v in result.val_metrics.items()})
    attrs.update({"test_" + k.removeprefix("val_"): v for k, v in result.test_metrics.items()})
    for key, value in attrs.items():
        trial.set_user_attr(key, value)


def make_objective(spec: StudySpec, *, stop_check: StopCheck) -> Callable[[optuna.Trial], float]:
    splits = prepare(spec)

    def objective(trial: optuna.Trial) -> float:
        values = suggest(trial, spec)
        config = train_config(spec, values, n_out=n_outputs(splits))

        def on_epoch(epoch: int, metrics: dict[str, float]) -> bool:
            trial.report(metrics[config.metric], epoch)
            stop_check()
            return trial.should_prune()

        result = train(config, splits.folds, on_epoch)
        record(trial, result)
        if result.pruned:
            raise optuna.TrialPruned(f"pruned at epoch {result.epochs_run}")
        return result.value

    return objective
