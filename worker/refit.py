"""The best model's training: the refit of the chosen configuration on every non-test row
(or every row), or the trial's own models again, and what refuses a refit.

A trial trains on the training split (or k − 1 folds) and is judged on the validation rows.
Once a study has chosen, those rows are better used as training data, as scikit-learn's ``*CV``
estimators do: ``best_fit`` trains one model on all non-test rows with the chosen parameters,
for the number of epochs early stopping chose in the trial (minibatch; there is nothing left to
stop on) or to the same tolerance (exact: the minimizer on the union). A refit that diverged or
fits worse than the mean is refused for the trial's own models; one over
``objective.max_nonzero`` has its λ raised (exact solver) or is refused the same way. The
trial's own fold models, which keep the limit on their mean, can break it together: their
note says so.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sqlalchemy import Engine
from torch import nn

from regtune.service.ingest.preprocess import FillValues
from regtune.service.spec.definition import StudySpec
from regtune.worker import data
from regtune.worker.evaluation import baseline, score_folds
from regtune.worker.models import penalized_weights
from regtune.worker.objective import n_outputs, prepare, train_config, validation_of
from regtune.worker.search import stored_values
from regtune.worker.trainers import fit
from regtune.worker.trainers.config import StopCheck, TrainConfig
from regtune.worker.trainers.fused import train_fused
from regtune.worker.trainers.result import TrainResult


@dataclass
class BestFit:
    """The best model's training: its result, the splits it trained on, how many rows."""

    result: TrainResult
    splits: data.Splits
    config: TrainConfig
    train_rows: int
    refit: bool
    every_row: bool = False
    """A refit on the test rows too (``refit_rows: all``)."""
    epochs: int | None = None
    """Epochs the refit trained for (minibatch refit only)."""
    refit_lambda: float | None = None
    """The λ the refit needed to keep ``objective.max_nonzero`` (when above the trial's)."""
    note: str | None = None
    """Why the saved model is not the plain refit (``max_nonzero``, a refused refit), if it is
    not, and that the trial's own fold models together break ``max_nonzero``, if they do."""
    refused: str | None = None
    """What the refit did that refused it ("diverged …", "had 9 non-zero weights, …"), when
    these are the trial's own models in its stead."""

    @property
    def rows(self) -> str | None:
        """The definition's ``refit_rows`` this fit is, or None for the trial's own models."""
        if not self.refit:
            return None
        return "all" if self.every_row else "non_test"

    @property
    def member_rows(self) -> list[int]:
        """Rows each saved model trained on: the k fold models' (``refit: false`` under folds,
        together every non-test row), or the one model's, ``train_rows``."""
        return [len(fold.y_train) for fold in self.splits.folds]

    @property
    def sparsity(self) -> tuple[int, int]:
        """(non-zero weights, weights) of the saved model: a weight counts if any of its
        members (one per fold without a refit) uses it, since their predictions are averaged."""
        return saved_nonzero(self.result.models)


def saved_nonzero(models: list[nn.Module]) -> tuple[int, int]:
    per_member = [penalized_weights(m) for m in models]
    nonzero = total = 0
    for weights in zip(*per_member, strict=True):
        used = torch.stack([w.detach() != 0 for w in weights]).any(dim=0)
        nonzero += int(used.sum())
        total += used.numel()
    return nonzero, total


def refit_splits(
    spec: StudySpec, *, engine: Engine | None = None, every_row: bool = False
) -> data.Splits:
    """One fold that trains on every non-test row (or ``every_row``: on the test rows too),
    standardized with their statistics.

    The refit has no validation rows: its "validation" set is its training set (nothing stops
    or is chosen on it), so its validation figures are not reported; nor are its test figures
    when it trained on the test rows."""
    dataset = data.load(spec.dataset.model_dump(mode="json"), engine=engine)
    v = validation_of(spec, dataset)  # the trials' test split, for a definition used directly too
    rest, test = data.split_test(dataset, test_fraction=v.test_fraction, seed=v.split_seed)
    if every_row:
        rest = np.arange(len(dataset.y))
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


def best_fit(
    spec: StudySpec,
    params: Mapping[str, Any],
    trial_attrs: Mapping[str, Any],
    *,
    stop: StopCheck | None = None,
    engine: Engine | None = None,
    every_row: bool = False,
) -> BestFit:
    """Train the best trial's configuration for the best model: refit on all non-test rows
    (``spec.refit``; ``every_row``: on the test rows too), or retrain the trial's own folds.
    ``stop``: as in ``fit``; ``engine``: where an uploaded dataset is read."""
    values = stored_values(spec, dict(params))
    if not spec.refit:
        splits = prepare(spec, with_fill=True, engine=engine)
        config = train_config(spec, values, n_out=n_outputs(splits))
        rows = len(splits.folds[0].y_train)
        result = retrain(config, splits.folds, trial_attrs, stop=stop)
        own = BestFit(result, splits, config, rows, refit=False)
        return dataclasses.replace(own, note=_members_over(own, spec.objective.max_nonzero))
    splits = refit_splits(spec, engine=engine, every_row=every_row)
    config = train_config(spec, values, n_out=n_outputs(splits))
    epochs = None
    if config.solver == "minibatch":
        epochs = refit_epochs(config, trial_attrs)
        config = dataclasses.replace(config, max_epochs=epochs, early_stopping=None)
    result = fit(config, splits.folds, stop=stop)
    rows = len(splits.folds[0].y_train)
    fitted = BestFit(result, splits, config, rows, refit=True, every_row=every_row, epochs=epochs)
    failed = refit_failure(fitted)
    if failed is not None:
        return _own_models(spec, values, trial_attrs, failed, stop=stop, engine=engine)
    limit = spec.objective.max_nonzero
    if limit is None or fitted.sparsity[0] <= limit:
        return fitted
    return _within(limit, spec, values, trial_attrs, fitted, stop=stop, engine=engine)


def retrain(
    config: TrainConfig,
    folds: list[data.Fold],
    trial_attrs: Mapping[str, Any],
    *,
    stop: StopCheck | None = None,
) -> TrainResult:
    """The trial's own models again, trained as the trial was: a member of a fused pass (user
    attr ``fused``) as a fused pass of one, whose initial weights, batches, dropout masks and
    input noise are the member's in its pass (its draws are its own generators', whatever its
    companions; equal to float rounding), any other trial by ``fit``."""
    if trial_attrs.get("fused") is True:
        return train_fused([config], folds, stop=stop)[0]
    return fit(config, folds, stop=stop)


def refit_failure(fitted: BestFit) -> str | None:
    """Why a minibatch refit is no model to save, or None: its loss became NaN or infinite
    (the trial's learning rate, with more rows and so more steps an epoch, can diverge where
    the trial did not), or it fits its own training rows worse than their mean (or class
    frequencies) does, which a model that trained at all never does. The refit has no
    validation rows: its "validation" figures are its training rows'."""
    result = fitted.result
    if result.diverged:
        return "diverged (its loss became NaN or infinite)"
    if fitted.config.solver != "minibatch":
        return None
    fold, task = fitted.splits.folds[0], fitted.splits.task
    constant = score_folds([baseline(fold, task, fitted.config.n_out)], [fold], "val", task)
    loss, base = result.val_metrics["val_loss"], constant["val_loss"]
    if loss > base:
        return (
            f"fits its own training rows worse than their mean does (loss {loss:.4g} against "
            f"{base:.4g})"
        )
    return None


def _own_models(
    spec: StudySpec,
    values: dict[str, float],
    trial_attrs: Mapping[str, Any],
    why: str,
    *,
    stop: StopCheck | None,
    engine: Engine | None,
) -> BestFit:
    """The trial's own models (``refit: false``), with why (what the refit did) they are saved
    instead of the refit."""
    own = best_fit(
        spec.model_copy(update={"refit": False}), values, trial_attrs, stop=stop, engine=engine
    )
    note = f"the refit {why}: the trial's own models are saved"
    return dataclasses.replace(own, note="; ".join(filter(None, [note, own.note])), refused=why)


def _members_over(own: BestFit, limit: int | None) -> str | None:
    """What the trial's own models say of ``objective.max_nonzero`` when together they break
    it, or None: the trial's constraint checks its fold models' mean, but the saved model
    averages their predictions, so a weight counts if any of them uses it (``sparsity``), and
    k fold models that keep the limit on average can use more weights together. They are saved
    as they are (``refit: false`` keeps the trial's models); the note says so."""
    found = own.sparsity[0]
    if limit is None or found <= limit:
        return None
    over = f"{found} non-zero weights, over objective.max_nonzero {limit}"
    k = len(own.result.models)
    if k == 1:
        return f"the trial's model uses {over}"
    return (
        f"the {k} fold models together use {over} (a weight counts if any of them uses it: their "
        f"predictions are averaged), while each uses {own.result.n_nonzero:g} on average, "
        "the mean the trial's constraint checks"
    )


def _within(
    limit: int,
    spec: StudySpec,
    values: dict[str, float],
    trial_attrs: Mapping[str, Any],
    fitted: BestFit,
    *,
    stop: StopCheck | None,
    engine: Engine | None = None,
) -> BestFit:
    """The refit over ``max_nonzero`` (more rows can wake more weights): the exact solver
    raises λ to about the smallest value that keeps the limit (doubling, then bisecting in log
    λ, warm-started), as glmnet's ``dfmax``; otherwise, or if that fails, the trial's own
    models (``refit: false``) are saved."""
    found = fitted.sparsity[0]
    config = fitted.config
    if config.solver == "exact" and config.l1_ratio > 0 and config.lam > 0:
        raised = _raise_lambda(limit, fitted, stop=stop)
        if raised is not None:
            return dataclasses.replace(
                raised,
                note=f"the refit had {found} non-zero weights, over objective.max_nonzero "
                f"{limit}: λ raised from {config.lam:.6g} to {raised.config.lam:.6g}",
            )
    why = f"had {found} non-zero weights, over objective.max_nonzero {limit}"
    return _own_models(spec, values, trial_attrs, why, stop=stop, engine=engine)


RAISES = 40
BISECTIONS = 12


def _raise_lambda(limit: int, fitted: BestFit, *, stop: StopCheck | None) -> BestFit | None:
    def solve(lam: float, start: TrainResult) -> BestFit:
        config = dataclasses.replace(fitted.config, lam=lam)
        result = fit(config, fitted.splits.folds, warm_start=start.states or None, stop=stop)
        return dataclasses.replace(fitted, result=result, config=config, refit_lambda=lam)

    low, high = fitted, None
    for _ in range(RAISES):
        tried = solve(low.config.lam * 2, low.result)
        if tried.sparsity[0] <= limit:
            high = tried
            break
        low = tried
    if high is None:
        return None
    for _ in range(BISECTIONS):
        middle = solve(math.sqrt(low.config.lam * high.config.lam), low.result)
        if middle.sparsity[0] <= limit:
            high = middle
        else:
            low = middle
    return high
