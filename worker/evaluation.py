"""Validation and test metrics of a model, and the one place a split's name goes on them.

``evaluate`` names a metric by what it measures (``loss``, ``rmse``, ``accuracy``...); a trial
reports and stores it under its split (``val_loss``, ``test_accuracy``: ``named``), the names
a definition's ``objective.metric`` uses; ``unnamed`` reads them back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import torch
from scipy.stats import rankdata
from torch import nn

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


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann–Whitney U) formula, ties averaged: the value scikit-learn's
    ``roc_auc_score`` gives, at a small fraction of its cost on every epoch's report."""
    positives = y == 1
    n_pos = int(positives.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = rankdata(score)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@torch.no_grad()
def evaluate(
    model: nn.Module, X: torch.Tensor, y: np.ndarray, task: str, scaler: Standardizer
) -> dict[str, float]:
    """Regression: loss (½·MSE, standardized target), r2 and rmse (original units).
    Classification: loss (mean cross-entropy), accuracy, and ROC AUC for binary tasks."""
    model.eval()
    out = model(X)
    if task == "regression":
        pred = out.squeeze(-1).double().numpy()
        target = y.astype(np.float64)
        mse = float(np.mean((pred - target) ** 2))
        var = float(np.var(target))
        return {
            "loss": 0.5 * mse,
            "rmse": math.sqrt(mse) * scaler.y_scale,
            "r2": 1.0 - mse / var if var > 0 else 0.0,
        }
    if task == "binary":
        logits = out.squeeze(-1).double()
        target_t = torch.from_numpy(y).double()
        loss = float(torch.nn.functional.binary_cross_entropy_with_logits(logits, target_t))
        prob = torch.sigmoid(logits).numpy()
        accuracy = float(np.mean((prob >= 0.5) == y))
        return {"loss": loss, "accuracy": accuracy, "auc": roc_auc(y, logits.numpy())}
    logits = out.double()
    loss = float(torch.nn.functional.cross_entropy(logits, torch.from_numpy(y)))
    accuracy = float(np.mean(logits.argmax(dim=1).numpy() == y))
    return {"loss": loss, "accuracy": accuracy}


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
