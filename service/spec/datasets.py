"""The built-in datasets: the one list of their names, with what the API needs to know of each
(task and shape) without loading anything. The worker loads a member ``name`` with
scikit-learn's ``load_<name>`` (``regtune.worker.data``); no other list of them exists.
"""

from __future__ import annotations

import math
from enum import StrEnum

from regtune.service.spec.enums import Task

STRATIFY_MIN = 3
"""A split is stratified by class when every class has at least this many rows (the worker's
``regtune.worker.data``; admission's check of the split sizes, ``cost``); a class with fewer is
not split: its rows all train (``regtune.worker.data.held_out``, ``unsplit_class_note``)."""


def unsplit_class_note(smallest_class: int | None, *, test_fraction: float) -> str | None:
    """What a holdout says of a class too small to split by class: its rows all train, so no
    validation row is of it (nor a test row, below ``STRATIFY_MIN`` rows in all), and a
    validation score that looks perfect may be of the other classes alone. None when the
    smallest class (``smallest_class`` rows, None for regression) can be split."""
    if smallest_class is None:
        return None
    if smallest_class < STRATIFY_MIN:
        scored = "validation and test scores say" if test_fraction > 0 else "validation score says"
        return (
            f"a class of fewer than {STRATIFY_MIN} rows (the smallest has {smallest_class}) is "
            "too few to split by class: every trial trains on its rows and none is a validation "
            f"or test row, so the {scored} nothing of it"
        )
    left = math.floor(smallest_class * (1 - test_fraction))
    if left >= STRATIFY_MIN:
        return None
    return (
        f"the smallest class has {smallest_class} rows and about {left} of them are left after "
        f"the test split, fewer than {STRATIFY_MIN}: too few to split by class, so every trial "
        "can train on all of them and none be a validation row, the validation score saying "
        "nothing of it"
    )


class BuiltinDataset(StrEnum):
    """A scikit-learn toy dataset: its name, task and shape (rows, features, classes; 1 class
    for regression) and the rows of its least populated class (None for regression)."""

    task: Task
    rows: int
    features: int
    classes: int
    smallest_class: int | None

    def __new__(
        cls,
        name: str,
        task: Task,
        rows: int,
        features: int,
        classes: int,
        smallest_class: int | None = None,
    ) -> BuiltinDataset:
        member = str.__new__(cls, name)
        member._value_ = name
        member.task, member.rows, member.features, member.classes = task, rows, features, classes
        member.smallest_class = smallest_class
        return member

    DIABETES = "diabetes", Task.REGRESSION, 442, 10, 1
    BREAST_CANCER = "breast_cancer", Task.BINARY, 569, 30, 2, 212
    WINE = "wine", Task.MULTICLASS, 178, 13, 3, 48
    DIGITS = "digits", Task.MULTICLASS, 1797, 64, 10, 174
    IRIS = "iris", Task.MULTICLASS, 150, 4, 3, 50
