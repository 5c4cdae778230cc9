"""The missing-value policy of uploads: fill from the training split only, never from the rest.

Numeric features get the median of their training rows; a one-hot group (a text column) gets
the mode of its training rows. Fitting on the training split keeps validation and test rows
from leaking into the statistics, as with standardization. The fitted values travel with the
saved best model, so a row with holes is predicted as the trial saw it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class FillValues:
    """Per feature, what replaces a missing value: a median, or its group's one-hot mode."""

    values: np.ndarray
    groups: tuple[tuple[int, int], ...] = ()

    @classmethod
    def fit(cls, X_train: np.ndarray, groups: Sequence[tuple[int, int]] = ()) -> FillValues:
        """Medians and modes of the training rows (0 for a column missing in all of them)."""
        values = np.zeros(X_train.shape[1])
        in_group = np.zeros(X_train.shape[1], dtype=bool)
        for start, stop in groups:
            in_group[start:stop] = True
            counts = np.nansum(X_train[:, start:stop], axis=0)
            values[start + int(np.argmax(counts))] = 1.0
        numeric = np.flatnonzero(~in_group)
        if numeric.size and X_train.shape[0]:
            block = X_train[:, numeric]
            known = ~np.isnan(block)
            medians = np.zeros(numeric.size)
            seen = known.any(axis=0)
            if seen.all() and known.all():
                medians = np.median(block, axis=0)
            elif seen.any():
                medians[seen] = np.nanmedian(block[:, seen], axis=0)
            values[numeric] = medians
        return cls(values, tuple((int(a), int(b)) for a, b in groups))

    def apply(self, X: np.ndarray) -> np.ndarray:
        """``X`` with every NaN filled; ``X`` itself when nothing is missing."""
        holes = np.isnan(X)
        if not holes.any():
            return X
        out = X.copy()
        in_group = np.zeros(X.shape[1], dtype=bool)
        for start, stop in self.groups:
            in_group[start:stop] = True
            rows = holes[:, start:stop].any(axis=1)
            if rows.any():
                out[rows, start:stop] = self.values[start:stop]
        for j in np.flatnonzero(~in_group & holes.any(axis=0)):
            out[holes[:, j], j] = self.values[j]
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"values": self.values.tolist(), "groups": [list(g) for g in self.groups]}

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> FillValues:
        groups = tuple((int(a), int(b)) for a, b in stored.get("groups", []))
        return cls(np.asarray(stored["values"], dtype=np.float64), groups)
