"""The built-in dataset registry (``regtune.service.spec.datasets``) says what the worker loads;
the folds a study's claims train on."""

from __future__ import annotations

import numpy as np
import pytest

from regtune.service.spec.datasets import BuiltinDataset
from regtune.service.spec.definition import StudySpec
from regtune.worker.data import load
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
    other = spec.model_copy(update={"name": "other folds"})
    first = prepared(spec)
    assert prepared(spec) is first
    assert prepared(other) is not first  # another study: its own
    again = prepare(spec)
    for mine, theirs in zip(first.folds, again.folds, strict=True):
        np.testing.assert_array_equal(mine.X_train, theirs.X_train)
        np.testing.assert_array_equal(mine.y_val, theirs.y_val)
