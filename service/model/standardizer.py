"""Standardization by the training split's statistics: fitted by the worker, stored with a best
model, applied again at prediction."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Standardizer:
    """Statistics of the training split only, applied to every split."""

    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: float = 0.0
    y_scale: float = 1.0
    rows: int | None = None
    """Rows the statistics were fitted on (None in a model file saved before they travelled)."""
    x_min: np.ndarray | None = None
    x_max: np.ndarray | None = None
    """The smallest and largest value of each input over those rows (None in a model file
    saved before they travelled): a value within them is no extrapolation, however many
    standard deviations from the mean it lies (a pixel that is 0 in most images)."""

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, task: str) -> Standardizer:
        scale = X.std(axis=0)
        scale[scale == 0] = 1.0
        span = {"x_min": X.min(axis=0), "x_max": X.max(axis=0)}
        if task == "regression":
            y_scale = float(y.std()) or 1.0
            return cls(X.mean(axis=0), scale, float(y.mean()), y_scale, len(y), **span)
        return cls(X.mean(axis=0), scale, rows=len(y), **span)

    def x(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.x_mean) / self.x_scale).astype(np.float32)

    def y(self, y: np.ndarray, task: str) -> np.ndarray:
        if task == "regression":
            return ((y - self.y_mean) / self.y_scale).astype(np.float32)
        return y.astype(np.int64)

    def as_dict(self) -> dict[str, Any]:
        stored = {
            "x_mean": self.x_mean.tolist(),
            "x_scale": self.x_scale.tolist(),
            "y_mean": self.y_mean,
            "y_scale": self.y_scale,
            "rows": self.rows,
        }
        if self.x_min is not None and self.x_max is not None:
            stored |= {"x_min": self.x_min.tolist(), "x_max": self.x_max.tolist()}
        return stored

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> Standardizer:
        return cls(
            np.asarray(stored["x_mean"], dtype=np.float64),
            np.asarray(stored["x_scale"], dtype=np.float64),
            float(stored["y_mean"]),
            float(stored["y_scale"]),
            stored.get("rows"),
            _array(stored.get("x_min")),
            _array(stored.get("x_max")),
        )


def _array(stored: Sequence[float] | None) -> np.ndarray | None:
    return None if stored is None else np.asarray(stored, dtype=np.float64)


def pooled_target(members: Sequence[Standardizer]) -> tuple[float, float]:
    """(mean, standard deviation) of the target over the rows an ensemble's members trained on
    together, a row counted once per member that trained on it: the scale its loss is on. The
    k fold models of a study train on every non-test row k − 1 times, so these are the
    non-test rows' own, the refit's standardization (member 0's alone made the ensemble's loss
    look worse than the trial's beside a better r2). From each member's mean, scale and rows;
    members saved without their rows weigh the same (k folds differ by a row at most)."""
    if len(members) == 1:
        return members[0].y_mean, members[0].y_scale
    counts = [m.rows for m in members]
    weights = None if None in counts else np.asarray(counts, dtype=np.float64)
    means = np.array([m.y_mean for m in members])
    squares = np.array([m.y_scale**2 + m.y_mean**2 for m in members])
    mean = float(np.average(means, weights=weights))
    variance = float(np.average(squares, weights=weights)) - mean**2
    return mean, math.sqrt(max(variance, 0.0)) or 1.0
