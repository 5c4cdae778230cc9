"""Missing values are filled from the training split only: median per number, mode per group."""

from __future__ import annotations

import numpy as np

from regtune.service.ingest.preprocess import FillValues
from regtune.worker.data import Dataset, make_splits

NAN = np.nan


def fill_missing(
    X: np.ndarray, train: np.ndarray, groups: list[tuple[int, int]] | None = None
) -> np.ndarray:
    """What the worker does: fill values fitted on the training rows, applied to every row."""
    return FillValues.fit(X[train], groups or []).apply(X)


def test_fill_uses_training_rows_only() -> None:
    # column 0 numeric; columns 1-3 one-hot of a text column; rows 0-3 train, 4-6 other
    X = np.array(
        [
            [1.0, 0, 1, 0],
            [2.0, 0, 1, 0],
            [3.0, 1, 0, 0],
            [NAN, NAN, NAN, NAN],
            [1000.0, 0, 0, 1],
            [1000.0, 0, 0, 1],
            [NAN, NAN, NAN, NAN],
        ]
    )
    train = np.arange(4)
    filled = fill_missing(X, train, [(1, 4)])
    assert filled[3].tolist() == [2.0, 0, 1, 0]  # median of 1, 2, 3; mode is the middle category
    assert filled[6].tolist() == [2.0, 0, 1, 0]  # not the 1000s nor the last category of rows 4-5
    assert np.isnan(X[3]).all()  # the input is left alone
    assert not np.isnan(filled).any()


def test_nothing_missing_returns_the_same_array() -> None:
    X = np.ones((5, 2))
    assert fill_missing(X, np.arange(3)) is X


def test_a_column_missing_in_every_training_row_becomes_zero() -> None:
    X = np.array([[NAN, 1.0], [NAN, 2.0], [5.0, 3.0]])
    assert fill_missing(X, np.arange(2))[:, 0].tolist() == [0.0, 0.0, 5.0]


def test_splits_of_a_dataset_with_holes_are_finite() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    X[rng.choice(200, 30, replace=False), 0] = NAN
    y = X[:, 1] * 2.0
    data = Dataset(X, y, "regression", ["a", "b", "c"])
    splits = make_splits(data, test_fraction=0.2, holdout=None, folds=3, seed=0)
    for fold in splits.folds:
        for part in (fold.X_train, fold.X_val, fold.X_test):
            assert np.isfinite(part).all()
