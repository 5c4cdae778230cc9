"""The row draws a definition's seed makes: the test split, a holdout, k folds.

They are scikit-learn's draws, row for row: ``train_test_split`` (``ShuffleSplit``, or
``StratifiedShuffleSplit`` given classes), and ``KFold`` / ``StratifiedKFold`` with
``shuffle=True``, on NumPy's ``RandomState`` seeded as scikit-learn seeds it. They are written out
here because importing ``sklearn.model_selection`` costs a worker about 1.4 s of CPU and 140 MB
(scikit-learn's top level imports SciPy's statistics and pandas), for a few lines of NumPy; and
because a stored study must draw the same rows again whatever scikit-learn release is installed.
``tests/worker/test_splits.py`` holds them to scikit-learn's own, draw for draw.
"""

from __future__ import annotations

import math

import numpy as np

Pair = tuple[np.ndarray, np.ndarray]


def shuffle_split(
    n: int, test_size: float | int, seed: int, classes: np.ndarray | None = None
) -> Pair:
    """(train, test) positions of ``n`` rows, ``ceil(test_size · n)`` of them held out (a
    fraction; an int is the number held out); with ``classes`` (one label per row) each class
    held out in proportion, as ``train_test_split(..., stratify=classes)``."""
    n_test = test_size if isinstance(test_size, int) else math.ceil(test_size * n)
    n_train = n - n_test
    if n_test <= 0 or n_train <= 0:
        raise ValueError(f"holding out {test_size} of {n} rows leaves a side empty")
    rng = np.random.RandomState(seed)
    if classes is None:
        permutation = rng.permutation(n)
        return permutation[n_test : n_test + n_train], permutation[:n_test]
    labels, inverse, counts = np.unique(classes, return_inverse=True, return_counts=True)
    if not stratifies(counts, n_train, n_test):
        raise ValueError(
            f"{len(labels)} classes (the smallest of {counts.min()} rows) cannot be split "
            f"{n_train} / {n_test} with each class on both sides"
        )
    by_class = np.split(np.argsort(inverse, kind="stable"), np.cumsum(counts)[:-1])
    n_i = _approximate_mode(counts, n_train, rng)
    t_i = _approximate_mode(counts - n_i, n_test, rng)
    train: list[int] = []
    test: list[int] = []
    for i, rows in enumerate(by_class):
        shuffled = rows.take(rng.permutation(counts[i]), mode="clip")
        train.extend(shuffled[: n_i[i]])
        test.extend(shuffled[n_i[i] : n_i[i] + t_i[i]])
    return rng.permutation(train), rng.permutation(test)


def stratifies(counts: np.ndarray, n_train: int, n_test: int) -> bool:
    """Whether classes of ``counts`` rows split ``n_train`` / ``n_test`` by class: each of at
    least 2 rows, and a row of each class for each side (``shuffle_split`` refuses it else)."""
    return bool(counts.min() >= 2 and n_train >= len(counts) and n_test >= len(counts))


def kfold(n: int, k: int, seed: int) -> list[Pair]:
    """The k (train, validation) position pairs of ``n`` shuffled rows, as ``KFold(k,
    shuffle=True, random_state=seed)``: the first ``n % k`` folds one row larger."""
    if k > n:
        raise ValueError(f"{k} folds of {n} rows")
    order = np.arange(n)
    np.random.RandomState(seed).shuffle(order)
    sizes = np.full(k, n // k, dtype=int)
    sizes[: n % k] += 1
    fold = np.empty(n, dtype=int)
    fold[order] = np.repeat(np.arange(k), sizes)
    return _pairs(fold, k)


def stratified_kfold(classes: np.ndarray, k: int, seed: int) -> list[Pair]:
    """The k (train, validation) position pairs of the rows labelled ``classes``, each class
    dealt round-robin over the folds, as ``StratifiedKFold(k, shuffle=True,
    random_state=seed)``."""
    n = len(classes)
    if k > n:
        raise ValueError(f"{k} folds of {n} rows")
    rng = np.random.RandomState(seed)
    # classes numbered by first appearance, as scikit-learn numbers them
    _, first, inverse = np.unique(classes, return_index=True, return_inverse=True)
    _, by_appearance = np.unique(first, return_inverse=True)
    encoded = by_appearance[inverse]
    n_classes = len(first)
    if np.all(k > np.bincount(encoded)):
        raise ValueError(f"{k} folds, more than the rows of every class")
    dealt = np.sort(encoded)
    allocation = np.asarray([np.bincount(dealt[i::k], minlength=n_classes) for i in range(k)])
    fold = np.empty(n, dtype="i")
    for c in range(n_classes):
        folds_of_class = np.arange(k).repeat(allocation[:, c])
        rng.shuffle(folds_of_class)
        fold[encoded == c] = folds_of_class
    return _pairs(fold, k)


def _pairs(fold: np.ndarray, k: int) -> list[Pair]:
    """(train, validation) positions per fold, each in ascending order."""
    positions = np.arange(len(fold))
    return [(positions[fold != i], positions[fold == i]) for i in range(k)]


def _approximate_mode(counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """Rows per class of ``n_draws`` drawn from classes of ``counts`` rows: each class its share
    rounded down, then one more to the largest remainders, ties drawn by ``rng``."""
    continuous = counts / counts.sum() * n_draws
    floored = np.floor(continuous)
    need = int(n_draws - floored.sum())
    if need > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (tied,) = np.where(remainder == value)
            now = min(len(tied), need)
            floored[rng.choice(tied, size=now, replace=False)] += 1
            need -= now
            if need == 0:
                break
    return floored.astype(int)
