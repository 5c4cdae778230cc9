"""regtune's row draws are scikit-learn's, row for row (``worker/splits.py``), over sizes, seeds,
fractions and class mixes, ties and remainders included; and a worker that runs a study of data
it did not load through scikit-learn never imports scikit-learn or pandas."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from bench.imports import TRIALS
from regtune.worker.splits import kfold, shuffle_split, stratified_kfold

SEEDS = [0, 1, 7, 42, 2**31 - 1]


def labels(rng: np.random.Generator, n: int, weights: list[float]) -> np.ndarray:
    """``n`` labels drawn with ``weights``, every class at least 3 rows (as ``_stratify`` asks)."""
    k = len(weights)
    y = np.concatenate([np.repeat(np.arange(k), 3), rng.choice(k, size=n - 3 * k, p=weights)])
    return rng.permutation(y)


def same(ours: list[tuple[np.ndarray, np.ndarray]], theirs: list[tuple[np.ndarray, np.ndarray]]):
    assert len(ours) == len(theirs)
    for (a_train, a_test), (b_train, b_test) in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a_train, b_train)
        np.testing.assert_array_equal(a_test, b_test)


@pytest.mark.parametrize("n", [5, 10, 37, 150, 442, 569, 1797])
@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.25, 0.3, 0.5])
def test_a_shuffled_split_is_train_test_splits(n: int, fraction: float) -> None:
    rows = np.arange(n)
    for seed in SEEDS:
        train, test = shuffle_split(n, fraction, seed)
        theirs = train_test_split(rows, test_size=fraction, random_state=seed)
        same([(train, test)], [tuple(theirs)])


@pytest.mark.parametrize("n", [30, 61, 150, 178, 569, 1000])
@pytest.mark.parametrize(
    "weights",
    [[0.5, 0.5], [0.63, 0.37], [0.9, 0.1], [1 / 3] * 3, [0.5, 0.3, 0.2], [0.1] * 10],
    ids=["even", "breast-cancer-like", "rare", "three", "uneven-three", "ten"],
)
def test_a_stratified_split_is_train_test_splits(n: int, weights: list[float]) -> None:
    rng = np.random.default_rng(n)
    y = labels(rng, n, weights)
    for fraction in (0.2, 0.25, 1 / 3):
        for seed in SEEDS:
            try:
                theirs = train_test_split(
                    np.arange(n), test_size=fraction, random_state=seed, stratify=y
                )
            except ValueError:  # too few rows for every class on both sides: ours refuses too
                with pytest.raises(ValueError):
                    shuffle_split(n, fraction, seed, y)
                continue
            train, test = shuffle_split(n, fraction, seed, y)
            same([(train, test)], [tuple(theirs)])


def test_labels_of_any_kind_split_by_their_order_of_appearance() -> None:
    """Text labels and labels that are not 0..k-1 draw as scikit-learn draws them."""
    rng = np.random.default_rng(3)
    y = labels(rng, 200, [0.5, 0.3, 0.2])
    for named in (np.array(["b", "c", "a"])[y], y * 10 + 5, 2 - y):
        for seed in SEEDS:
            same(
                stratified_kfold(named, 5, seed),
                list(StratifiedKFold(5, shuffle=True, random_state=seed).split(named, named)),
            )
            theirs = train_test_split(
                np.arange(200), test_size=0.2, random_state=seed, stratify=named
            )
            same([shuffle_split(200, 0.2, seed, named)], [tuple(theirs)])


@pytest.mark.parametrize("n", [5, 9, 10, 11, 99, 442, 1000])
@pytest.mark.parametrize("k", [2, 3, 5, 10])
def test_folds_are_kfolds(n: int, k: int) -> None:
    if k > n:
        with pytest.raises(ValueError):
            kfold(n, k, 0)
        return
    for seed in SEEDS:
        same(kfold(n, k, seed), list(KFold(k, shuffle=True, random_state=seed).split(np.arange(n))))


@pytest.mark.parametrize("n", [20, 47, 150, 455, 1437])
@pytest.mark.parametrize("k", [2, 3, 5, 10])
@pytest.mark.parametrize("weights", [[0.5, 0.5], [0.8, 0.2], [0.4, 0.35, 0.25], [0.1] * 10])
def test_stratified_folds_are_stratified_kfolds(n: int, k: int, weights: list[float]) -> None:
    rng = np.random.default_rng(n * k)
    y = labels(rng, max(n, 3 * len(weights)), weights)
    for seed in SEEDS:
        theirs = StratifiedKFold(k, shuffle=True, random_state=seed)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a class with fewer rows than folds
                expected = list(theirs.split(np.zeros(len(y)), y))
        except ValueError:  # every class has fewer rows than folds: ours refuses too
            with pytest.raises(ValueError):
                stratified_kfold(y, k, seed)
            continue
        same(stratified_kfold(y, k, seed), expected)


PROBE = f"""
import json, sys
{TRIALS}
print(json.dumps(sorted(m for m in ("sklearn", "scipy", "pandas") if m in sys.modules)))
"""
"""``bench.imports``' worker trials (two on 5 folds, two on a holdout), then what they imported."""


@pytest.mark.process
def test_a_trial_on_data_not_loaded_by_scikit_learn_imports_neither_it_nor_pandas() -> None:
    """A worker's trials split rows with NumPy alone: scikit-learn (and the SciPy and pandas it
    imports) stays out of a worker whose studies are on uploaded or generated data."""
    ran = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout.splitlines()[-1]) == []
