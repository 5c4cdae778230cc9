"""Validation and test metrics of a model, and the one place a split's name goes on them.

``evaluate`` names a metric by what it measures (``loss``, ``rmse``, ``accuracy``...); a trial
reports and stores it under its split (``val_loss``, ``test_accuracy``: ``named``), the names
a definition's ``objective.metric`` uses; ``unnamed`` reads them back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import torch
from torch import nn

from regtune.service.model.metrics import scores
from regtune.worker.data import Fold, Standardizer

Split = Literal["val", "test"]


def named(split: Split, metrics: Mapping[str, float]) -> dict[str, float]:
    """``{"loss": …}`` → ``{"val_loss": …}``: metrics as a study reports and stores them."""
    return {f"{split}_{name}": value for name, value in metrics.items()}


def unnamed(split: Split, values: Mapping[str, object]) -> dict[str, float]:
    """The numeric ``split`` metrics among named values (e.g. a trial's user attributes)."""
    prefix = f"{split}_"
    return {
        key.removeprefix(prefix): float(value)
        for key, value in values.items()
        if key.startswith(prefix) and isinstance(value, int | float) and not isinstance(value, bool)
    }


@torch.no_grad()
def evaluate(
    model: nn.Module, X: torch.Tensor, y: np.ndarray, task: str, scaler: Standardizer
) -> dict[str, float]:
    """Regression: loss (½·MSE, standardized target), r2 and rmse (original units).
    Classification: loss (mean cross-entropy), accuracy, and ROC AUC for binary tasks."""
    model.eval()
    return scores(model(X).double().numpy(), y, task, scaler.y_scale)


def score_folds(
    models: Sequence[nn.Module], folds: Sequence[Fold], split: Split, task: str
) -> dict[str, float]:
    """Each fold's model on that fold's ``split`` rows, averaged over folds, named for ``split``."""
    return mean_of(split, scores_per_fold(models, folds, split, task))


def scores_per_fold(
    models: Sequence[nn.Module], folds: Sequence[Fold], split: Split, task: str
) -> list[dict[str, float]]:
    """Each fold's model on that fold's ``split`` rows (unnamed metrics, one dict per fold)."""
    per_fold = []
    for model, fold in zip(models, folds, strict=True):
        X, y = (fold.X_val, fold.y_val) if split == "val" else (fold.X_test, fold.y_test)
        per_fold.append(evaluate(model, torch.from_numpy(X), y, task, fold.scaler))
    return per_fold


def mean_of(split: Split, per_fold: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """The folds' metrics averaged, named for ``split``."""
    return named(split, {key: float(np.mean([m[key] for m in per_fold])) for key in per_fold[0]})
