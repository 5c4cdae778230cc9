"""The refit: the best configuration trained again on every row it was tuned on.

A trial trains on the training split (or k − 1 folds) and is judged on the validation rows.
Once a study has chosen, those validation rows are better used as training data, as
scikit-learn's ``*CV`` estimators do: the refit trains one model on all non-test rows
(training + validation; under k-fold, every fold) with the chosen parameters

* for the number of epochs early stopping chose in the trial (minibatch; no early stopping in
  the refit, there is nothing left to stop on), or
* to the same tolerance (exact: the minimizer of the objective on the union).

Its test metric is what the best model reports; the trial's validation figures stay the
trial's. ``refit: false`` keeps the trial's own models (one per fold) instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.ingest.preprocess import FillValues
from service.spec.definition import StudySpec
from worker import data
from worker.objective import fit_spec, n_outputs, prepare, solver_of, stored_values, train_config
from worker.train import TrainConfig, TrainResult


@dataclass
class BestFit:
    """The best model's training: its result, the splits it trained on, how many rows."""

    result: TrainResult
    splits: data.Splits
    config: TrainConfig
    train_rows: int
    refit: bool
    epochs: int | None = None
    """Epochs the refit trained for (minibatch refit only)."""


def refit_splits(spec: StudySpec) -> data.Splits:
    """One fold that trains on every non-test row, standardized with their statistics.

    The refit has no validation rows: its "validation" set is its training set (nothing stops
    or is chosen on it), so its validation figures are not reported."""
    dataset = data.load(spec.dataset.model_dump(mode="json"))
    v = spec.validation
    rest, test = data.split_test(dataset, test_fraction=v.test_fraction, seed=v.split_seed)
    fill = FillValues.fit(dataset.X[rest], dataset.categorical_groups)
    X = fill.apply(dataset.X)
    scaler = data.Standardizer.fit(X[rest], dataset.y[rest], dataset.task)
    X_rest, y_rest = scaler.x(X[rest]), scaler.y(dataset.y[rest], dataset.task)
    fold = data.Fold(
        X_train=X_rest,
        y_train=y_rest,
        X_val=X_rest,
        y_val=y_rest,
        X_test=scaler.x(X[test]),
        y_test=scaler.y(dataset.y[test], dataset.task),
        scaler=scaler,
        fill=fill,
    )
    return data.Splits(
        task=dataset.task,
        n_features=dataset.X.shape[1],
        n_classes=dataset.n_classes,
        folds=[fold],
    )


def refit_epochs(config: TrainConfig, trial_attrs: Mapping[str, Any]) -> int:
    """The epochs the trial's model had: its best epoch when early stopping restored it, else
    every epoch it ran."""
    stop = config.early_stopping
    key = "best_epoch" if stop is not None and stop.restore_best else "epochs_run"
    epochs = trial_attrs.get(key) or trial_attrs.get("epochs_run") or config.max_epochs
    return max(1, int(epochs))


def best_fit(spec: StudySpec, params: Mapping[str, Any], trial_attrs: Mapping[str, Any]) -> BestFit:
    """Train the best trial's configuration for the best model: refit on all non-test rows
    (``spec.refit``), or retrain the trial's own folds."""
    values = stored_values(spec, dict(params))
    if not spec.refit:
        splits = prepare(spec, with_fill=True)
        config = train_config(spec, values, n_out=n_outputs(splits))
        rows = len(splits.folds[0].y_train)
        return BestFit(fit_spec(spec, config, splits.folds), splits, config, rows, refit=False)
    splits = refit_splits(spec)
    config = train_config(spec, values, n_out=n_outputs(splits))
    epochs = None
    if solver_of(spec) == "minibatch":
        epochs = refit_epochs(config, trial_attrs)
        config = dataclasses.replace(config, max_epochs=epochs, early_stopping=None)
    result = fit_spec(spec, config, splits.folds)
    rows = len(splits.folds[0].y_train)
    return BestFit(result, splits, config, rows, refit=True, epochs=epochs)
