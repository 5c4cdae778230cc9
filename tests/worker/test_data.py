"""The built-in dataset registry (``regtune.service.spec.datasets``) says what the worker loads."""

from __future__ import annotations

import numpy as np
import pytest

from regtune.service.spec.datasets import BuiltinDataset
from regtune.worker.data import load


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
