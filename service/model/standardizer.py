"""Standardization by the training split's statistics: fitted by the worker, stored with a best
model, applied again at prediction."""

from __future__ import annotations

from collections.abc import Mapping
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

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, task: str) -> Standardizer:
        scale = X.std(axis=0)
        scale[scale == 0] = 1.0
        if task == "regression":
            y_scale = float(y.std()) or 1.0
            return cls(X.mean(axis=0), scale, float(y.mean()), y_scale)
        return cls(X.mean(axis=0), scale)

    def x(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.x_mean) / self.x_scale).astype(np.float32)

    def y(self, y: np.ndarray, task: str) -> np.ndarray:
        if task == "regression":
            return ((y - self.y_mean) / self.y_scale).astype(np.float32)
        return y.astype(np.int64)

    def as_dict(self) -> dict[str, Any]:
        return {
            "x_mean": self.x_mean.tolist(),
            "x_scale": self.x_scale.tolist(),
            "y_mean": self.y_mean,
            "y_scale": self.y_scale,
        }

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> Standardizer:
        return cls(
            np.asarray(stored["x_mean"], dtype=np.float64),
            np.asarray(stored["x_scale"], dtype=np.float64),
            float(stored["y_mean"]),
            float(stored["y_scale"]),
        )
