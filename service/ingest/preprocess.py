"""The missing-value policy of uploads: fill from the training split only, never from the rest.

Numeric features get the median of their training rows; a one-hot group (a text column) gets
the mode of its training rows. Fitting on the training split keeps validation and test rows
from leaking into the statistics, as with standardization.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def fill_missing(
    X: np.ndarray, train: np.ndarray, groups: Sequence[tuple[int, int]] = ()
) -> np.ndarray:
    """``X`` with every NaN filled from rows ``train``; ``X`` itself when nothing is missing."""
    holes = np.isnan(X)
    if not holes.any():
        return X
    out = X.copy()
    in_group = np.zeros(X.shape[1], dtype=bool)
    for start, stop in groups:
        in_group[start:stop] = True
        rows = holes[:, start:stop].any(axis=1)
        if rows.any():
            counts = np.nansum(X[train, start:stop], axis=0)
            mode = np.zeros(stop - start)
            mode[int(np.argmax(counts))] = 1.0
            out[rows, start:stop] = mode
    for j in np.flatnonzero(~in_group & holes.any(axis=0)):
        known = X[train, j][~np.isnan(X[train, j])]
        out[holes[:, j], j] = float(np.median(known)) if known.size else 0.0
    return out
