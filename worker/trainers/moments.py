"""A regression fold's training rows as least squares needs them, computed once per fold.

Every exact-solver fit of a fold, a single trial or a λ path, works through the centered Gram
matrix of its training rows (``fista._LeastSquares``): O(n·d²) to make, O(d²) an iteration
after. The rows of a study's folds never change while a worker keeps them, so neither does
that matrix: it is made the first time and kept with the fold (``Fold.derived``). Made again
for every path it was 15 % of a 20,000-row study's CPU, and for every single trial most of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from regtune.worker.data import Fold
from regtune.worker.trainers.fista import _LeastSquares, centered_moments, threads_for


@dataclass(frozen=True)
class FoldMoments:
    """Centered Gram matrix and cross moments over n, the means, and the Gram matrix's largest
    eigenvalue, of one fold's training rows (float64)."""

    x_mean: torch.Tensor
    y_mean: torch.Tensor
    gram: torch.Tensor
    cross: torch.Tensor
    """(1, d)."""
    yy: float
    gram_norm: float

    KEY = "least_squares_moments"
    """Where a fold keeps them (``Fold.derived``)."""

    @classmethod
    def of(cls, fold: Fold) -> FoldMoments:
        """The fold's moments: kept from an earlier fit, or made (and kept) now."""
        return fold.kept(cls.KEY, lambda: cls.make(fold))

    @classmethod
    def make(cls, fold: Fold) -> FoldMoments:
        X = torch.from_numpy(np.asarray(fold.X_train)).double()
        y = torch.from_numpy(np.asarray(fold.y_train)).double()
        with threads_for(X.numel()):  # as ``Fista`` makes them from the rows
            x_mean, y_mean, gram, cross, yy = centered_moments(X, y)
        return cls(
            x_mean=x_mean,
            y_mean=y_mean,
            gram=gram,
            cross=cross,
            yy=yy,
            gram_norm=float(torch.linalg.eigvalsh(gram).max()),
        )

    def least_squares(self, l2: torch.Tensor) -> _LeastSquares:
        """The smooth part of a fit with ridge ``l2`` (per input) on every input: the same
        problem, to the bit, as ``_LeastSquares.of`` on the fold's rows."""
        return _LeastSquares(
            hessian=self.gram + torch.diag(l2),
            cross=self.cross,
            yy=self.yy,
            x_mean=self.x_mean,
            y_mean=self.y_mean,
        )
