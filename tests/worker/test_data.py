"""The built-in dataset registry (``regtune.service.spec.datasets``) says what the worker loads;
the folds a study's claims train on."""

from __future__ import annotations

import numpy as np
import pytest

from regtune.service.spec.datasets import BuiltinDataset
from regtune.service.spec.definition import StudySpec
from regtune.worker import data, objective
from regtune.worker.data import fold_positions, load, make_splits, split_test
from regtune.worker.objective import prepare, prepared


@pytest.mark.parametrize("builtin", list(BuiltinDataset))
def test_every_builtin_loads_with_the_task_and_shape_the_registry_gives(
    builtin: BuiltinDataset,
) -> None:
    data = load({"builtin": builtin.value})
    assert data.task == builtin.task
    assert data.X.shape == (builtin.rows, builtin.features)
    classes = 1 if builtin.task == "regression" else len(np.unique(data.y))
    assert classes == builtin.classes == data.n_classes
    smallest = None if builtin.task == "regression" else int(np.bincount(data.y).min())
    assert smallest == builtin.smallest_class


def test_a_studys_claims_share_its_folds_made_once() -> None:
    """Every claim of a study trains on the same folds: the worker splits once per study."""
    spec = StudySpec.model_validate(
        {"name": "folds", "dataset": {"builtin": "diabetes"}, "validation": {"folds": 3}}
    )
    other = spec.model_copy(update={"name": "other-folds"})
    first = prepared(spec)
    assert prepared(spec) is first
    assert prepared(other) is not first  # another study: its own
    again = prepare(spec)
    for mine, theirs in zip(first.folds, again.folds, strict=True):
        np.testing.assert_array_equal(mine.X_train, theirs.X_train)
        np.testing.assert_array_equal(mine.y_val, theirs.y_val)


def test_folds_too_large_for_the_workers_cache_are_made_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The folds kept are bounded in bytes as the datasets are: a study whose folds exceed the
    bound is split by every claim, not kept."""
    spec = StudySpec.model_validate(
        {"name": "large-folds", "dataset": {"builtin": "diabetes"}, "validation": {"folds": 3}}
    )
    monkeypatch.setattr(data, "cache_bytes", lambda: 10_000)  # diabetes' folds: ~140 kB
    objective._prepared.cache_clear()
    try:
        assert prepared(spec) is not prepared(spec)
    finally:
        objective._prepared.cache_clear()


def test_the_cache_counts_what_trainers_keep_with_a_fold(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fold keeps its Gram matrix once a fit made it (``Fold.derived``): on wide data that is
    more than its rows, so the bound counts it when the folds are cached, not after."""
    spec = StudySpec.model_validate(
        {
            "name": "wide-folds",
            "dataset": {
                "synthetic": {"kind": "sparse_regression", "n_samples": 60, "n_features": 200}
            },
            "validation": {"folds": 3},
        }
    )
    splits = prepare(spec)
    rows = sum(
        a.nbytes
        for f in splits.folds
        for a in (f.X_train, f.y_train, f.X_val, f.y_val, f.X_test, f.y_test)
    )
    gram = 8 * 200 * 200 * len(splits.folds)
    assert rows < gram
    monkeypatch.setattr(data, "cache_bytes", lambda: rows + gram // 2)  # the rows alone fit
    objective._prepared.cache_clear()
    try:
        assert prepared(spec) is not prepared(spec)
        monkeypatch.setattr(data, "cache_bytes", lambda: 2 * (rows + gram))
        objective._prepared.cache_clear()
        assert prepared(spec) is prepared(spec)
    finally:
        objective._prepared.cache_clear()


@pytest.mark.parametrize("builtin", ["diabetes", "wine"])
def test_the_folds_positions_are_the_folds_a_study_trains_on(builtin: str) -> None:
    """``fold_positions`` (what a bench hands scikit-learn) are ``make_splits``' own folds: each
    non-test row validated once, by the fold that holds it."""
    dataset = load({"builtin": builtin})
    rest, _ = split_test(dataset, test_fraction=0.2, seed=3)
    positions = fold_positions(dataset, rest, 5, 3)
    splits = make_splits(dataset, test_fraction=0.2, holdout=None, folds=5, seed=3)
    validated = np.sort(np.concatenate([val for _, val in positions]))
    np.testing.assert_array_equal(validated, np.arange(len(rest)))
    for (train, val), fold in zip(positions, splits.folds, strict=True):
        np.testing.assert_array_equal(fold.scaler.x(dataset.X[rest[val]]), fold.X_val)
        np.testing.assert_array_equal(fold.scaler.x(dataset.X[rest[train]]), fold.X_train)
