"""Optuna's Pareto front, a private helper of its multi-objective studies."""

from __future__ import annotations

import numpy as np
from optuna.study._multi_objective import _is_pareto_front


def is_pareto_front(points: np.ndarray) -> np.ndarray:
    """Which rows of ``points`` (all objectives minimized) are non-dominated."""
    return np.asarray(_is_pareto_front(points, False))
