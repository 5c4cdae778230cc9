"""The metrics a model is scored by, from its outputs, in numpy: one definition for the worker's
validation and test metrics and for ``regtune predict``.

Regression: ``loss`` (½·MSE on the standardized target), ``rmse`` (original units), ``r2``.
Classification: ``loss`` (mean cross-entropy), ``accuracy``, and ``auc`` for binary tasks.
A metric undefined on the rows given is NaN (null in JSON, ``n/a`` in the CLI): the R² of one
row, the AUC of rows of one class.
"""

from __future__ import annotations

import math

import numpy as np


def scores(out: np.ndarray, y: np.ndarray, task: str, y_scale: float = 1.0) -> dict[str, float]:
    """``out``: the model's outputs (standardized prediction, or logits); ``y``: the
    standardized target or the class codes. No rows (a study without a test split): no
    metrics."""
    if len(y) == 0:
        return {}
    out = np.asarray(out, dtype=np.float64)
    if task == "regression":
        pred = out.reshape(len(out), -1)[:, 0]
        target = np.asarray(y, dtype=np.float64)
        return regression_scores(
            float(np.mean((pred - target) ** 2)), float(np.var(target)), y_scale, rows=len(target)
        )
    codes = np.asarray(y, dtype=np.int64)
    if task == "binary":
        logits = out.reshape(len(out), -1)[:, 0]
        # binary cross-entropy with logits, stably: log(1 + e^z) - y·z
        loss = float(np.mean(np.logaddexp(0.0, logits) - codes * logits))
        accuracy = float(np.mean((logits >= 0.0) == (codes == 1)))
        return {"loss": loss, "accuracy": accuracy, "auc": roc_auc(codes, logits)}
    log_prob = out - np.logaddexp.reduce(out, axis=1, keepdims=True)
    loss = float(-np.mean(log_prob[np.arange(len(codes)), codes]))
    accuracy = float(np.mean(out.argmax(axis=1) == codes))
    return {"loss": loss, "accuracy": accuracy}


def regression_scores(
    mse: float, variance: float, y_scale: float = 1.0, *, rows: int
) -> dict[str, float]:
    """Regression's metrics from the mean squared error on the standardized target of ``rows``
    rows and that target's variance (``scores``, and the worker's scoring of a λ path's folds at
    once). The R² of one row is undefined: NaN; that of a constant target of several rows stays
    0, as scikit-learn's ``r2_score`` gives it to predictions not exact, so a validation fold of
    one value is still scored."""
    r2 = 1.0 - mse / variance if variance > 0 else 0.0
    if rows < 2:
        r2 = math.nan
    return {"loss": 0.5 * mse, "rmse": math.sqrt(mse) * y_scale, "r2": r2}


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann–Whitney U) formula, ties averaged: the value scikit-learn's
    ``roc_auc_score`` gives, at a small fraction of its cost on every epoch's report."""
    positives = y == 1
    n_pos = int(positives.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = average_ranks(np.asarray(score, dtype=np.float64))
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, tied values sharing the mean of their ranks (scipy's ``rankdata``)."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - (counts - 1) / 2.0)[inverse]).astype(np.float64)
