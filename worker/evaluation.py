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
from torch import nn

from regtune.service.model.metrics import regression_scores, scores
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
    return metrics_of(model(X), y, task, scaler)


def metrics_of(
    out: torch.Tensor, y: np.ndarray, task: str, scaler: Standardizer
) -> dict[str, float]:
    """``evaluate``'s metrics of a model's outputs ``out`` on rows with targets ``y``."""
    return scores(out.detach().double().numpy(), y, task, scaler.y_scale)


def score_folds(
    models: Sequence[nn.Module], folds: Sequence[Fold], split: Split, task: str
) -> dict[str, float]:
    """Each fold's model on that fold's ``split`` rows, averaged over folds, named for ``split``."""
    return mean_of(split, scores_per_fold(models, folds, split, task), rows=rows_of(folds, split))


def rows_of(folds: Sequence[Fold], split: Split) -> list[int]:
    """How many rows of ``split`` each fold scores on."""
    return [len(fold.y_val if split == "val" else fold.y_test) for fold in folds]


def scores_per_fold(
    models: Sequence[nn.Module], folds: Sequence[Fold], split: Split, task: str
) -> list[dict[str, float]]:
    """Each fold's model on that fold's ``split`` rows (unnamed metrics, one dict per fold)."""
    per_fold = []
    for model, fold in zip(models, folds, strict=True):
        X, y = (fold.X_val, fold.y_val) if split == "val" else (fold.X_test, fold.y_test)
        per_fold.append(evaluate(model, torch.from_numpy(X), y, task, fold.scaler))
    return per_fold


def affine_scores_per_fold(
    layers: Sequence[tuple[np.ndarray, np.ndarray]],
    folds: Sequence[Fold],
    split: Split,
    task: str,
) -> list[dict[str, float]]:
    """``scores_per_fold`` of linear models given by their affine layer (weight (n_out, n_in),
    bias), without a module: the outputs computed in numpy, in float32 as the model computes
    them (its input dropout is off when it is evaluated)."""
    per_fold = []
    for (weight, bias), fold in zip(layers, folds, strict=True):
        X, y = (fold.X_val, fold.y_val) if split == "val" else (fold.X_test, fold.y_test)
        b = np.asarray(bias, dtype=np.float32).reshape(-1)
        w = np.asarray(weight, dtype=np.float32).reshape(len(b), -1)
        per_fold.append(scores(X @ w.T + b, y, task, fold.scaler.y_scale))
    return per_fold


class AffineScorer:
    """``affine_scores_per_fold`` on both splits, for many linear models on the same folds (a λ
    path's points). Regression keeps every fold's rows of a split once, so the outputs of many
    points' models on a fold's rows are one product (``mses``), where each point, fold and
    split took a dozen small numpy calls: most of a point's scoring. A fold's rows meet its own
    models only (a product of every row with every fold's models, then a pick of the row's own,
    did the folds' work k times: 18 % of a 20,000-row study). The outputs are float32, as the
    model computes them; the errors are summed in float64."""

    CELLS = 4_000_000
    """Most outputs one product of ``mses`` computes (a fold's rows × points): 16 MB of
    float32."""

    def __init__(self, folds: Sequence[Fold], task: str) -> None:
        self.folds, self.task = folds, task
        if task != "regression":
            return
        self.splits = {
            split: _SplitRows(
                [(f.X_val, f.y_val) if split == "val" else (f.X_test, f.y_test) for f in folds]
            )
            for split in ("val", "test")
        }
        self.y_scale = [f.scaler.y_scale for f in folds]

    def __call__(self, layers: Sequence[tuple[np.ndarray, np.ndarray]]) -> Scores:
        """Each fold's (validation, test) metrics of the models ``layers``, one per fold."""
        if self.task != "regression":
            return (
                affine_scores_per_fold(layers, self.folds, "val", self.task),
                affine_scores_per_fold(layers, self.folds, "test", self.task),
            )
        weights = np.stack([np.asarray(w).reshape(-1) for w, _ in layers])[None]
        biases = np.asarray([np.asarray(b).reshape(-1)[0] for _, b in layers])[None]
        val, test = (self.metrics(split, self.mses(split, weights, biases))[0] for split in SPLITS)
        return val, test

    def mses(self, split: Split, weights: np.ndarray, biases: np.ndarray) -> np.ndarray:
        """Regression: the mean squared error of each of P points' F fold models (``weights``
        (P, F, d), ``biases`` (P, F)) on each fold's rows of ``split`` → (P, F); NaN for a fold
        without such rows."""
        stacked = self.splits[split]
        n_points = weights.shape[0]
        chunk = max(1, self.CELLS // max(1, stacked.rows))
        return np.concatenate(
            [
                stacked.mses(weights[start : start + chunk], biases[start : start + chunk])
                for start in range(0, n_points, chunk)
            ]
        )

    def metrics(self, split: Split, mses: np.ndarray) -> list[list[dict[str, float]]]:
        """``mses`` (P, F) as each point's per-fold metrics, unnamed as ``scores`` gives them
        (none for a split without rows, as ``scores``)."""
        stacked, scale = self.splits[split], self.y_scale
        return [
            [
                {} if math.isnan(var) else regression_scores(mse, var, y, rows=n)
                for mse, var, y, n in zip(row, stacked.variance, scale, stacked.counts, strict=True)
            ]
            for row in mses.tolist()
        ]


SPLITS: tuple[Split, Split] = ("val", "test")
Scores = tuple[list[dict[str, float]], list[dict[str, float]]]
"""Each fold's (validation, test) metrics of one model per fold."""


class _SplitRows:
    """One split's rows of every fold (float32, as the model reads them) and their targets."""

    def __init__(self, parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        self.X = [np.asarray(X, dtype=np.float32) for X, _ in parts]
        self.target = [np.asarray(y, dtype=np.float64) for _, y in parts]
        self.rows = max((len(y) for y in self.target), default=0)
        """The largest fold's rows."""
        self.variance = [float(np.var(y)) if len(y) else math.nan for y in self.target]
        self.counts = [len(y) for y in self.target]

    def mses(self, weights: np.ndarray, biases: np.ndarray) -> np.ndarray:
        """Each fold's rows times the points' models of that fold only: one product a fold."""
        n_points, n_folds, _ = weights.shape
        w = np.asarray(weights, dtype=np.float32)
        b = np.asarray(biases, dtype=np.float32)
        out = np.empty((n_points, n_folds))
        for f, (X, y) in enumerate(zip(self.X, self.target, strict=True)):
            errors = (X @ w[:, f].T + b[:, f]).astype(np.float64) - y[:, None]
            with np.errstate(invalid="ignore", divide="ignore"):  # no rows: NaN, as scores
                out[:, f] = np.einsum("rp,rp->p", errors, errors) / len(y)
        return out


COUNTED = frozenset({"accuracy"})
"""Metrics that are a count of a fold's rows over its rows (a share right)."""


def mean_of(
    split: Split, per_fold: Sequence[Mapping[str, float]], *, rows: Sequence[int]
) -> dict[str, float]:
    """The folds' metrics averaged, named for ``split``, each rounded once from its exact mean.
    A counted metric (``COUNTED``; ``rows``: each fold's rows) is averaged as the fractions it
    is, not as their floats: five folds of 91 rows right on 89, 87, 89, 87, 90 and on 89, 88,
    89, 87, 89 (442 either way) averaged 0.9714285714285715 and …713, so a Pareto front kept
    the trial with more weights beside the one that beats it."""
    return named(split, {key: _mean(key, [m[key] for m in per_fold], rows) for key in per_fold[0]})


def _mean(key: str, values: list[float], rows: Sequence[int]) -> float:
    """One metric's mean over folds; a counted one's share right on each fold is its count
    over the fold's rows rounded once (``np.mean`` of a boolean), so ``v × n`` rounds back
    to the count. The mean of the shares is one integer over another on the folds' common
    row count, which Python's division rounds once, as ``Fraction`` would (at a ninth of its
    cost: this runs at every reported epoch and every λ point)."""
    if key in COUNTED and all(rows) and all(math.isfinite(v) for v in values):
        common = math.lcm(*rows)
        right = sum(round(v * n) * (common // n) for v, n in zip(values, rows, strict=True))
        return right / (common * len(values))
    return math.fsum(values) / len(values)


class _Constant(nn.Module):
    """The same output for every row, whatever its inputs."""

    out: torch.Tensor

    def __init__(self, out: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("out", out)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.out.expand(X.shape[0], -1)


def baseline(fold: Fold, task: str, n_out: int) -> nn.Module:
    """The predictor that ignores the inputs, fitted on the fold's training rows: their mean
    (regression), or their class frequencies as logits (classification: its guess is the
    majority class, its loss the entropy of the class prior)."""
    if task == "regression":
        return _Constant(torch.tensor([[float(np.mean(fold.y_train))]], dtype=torch.float32))
    counts = np.bincount(fold.y_train, minlength=max(2, n_out)).astype(np.float64)
    logits = np.log((counts + 0.5) / (counts.sum() + 0.5 * len(counts)))  # no class at log 0
    if task == "binary":
        logits = np.array([logits[1] - logits[0]])
    return _Constant(torch.tensor(logits[None, :], dtype=torch.float32))


def baseline_scores(folds: Sequence[Fold], task: str, n_out: int) -> dict[str, float]:
    """Each fold's ``baseline`` on its test rows, averaged (unnamed metrics, as a saved
    model's ``test_metrics``)."""
    models = [baseline(fold, task, n_out) for fold in folds]
    return unnamed("test", score_folds(models, folds, "test", task))
