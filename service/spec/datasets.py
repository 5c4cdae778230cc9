"""The built-in datasets: the one list of their names, with what the API needs to know of each
(task and shape) without loading anything. The worker loads a member ``name`` with
scikit-learn's ``load_<name>`` (``regtune.worker.data``); no other list of them exists.
"""

from __future__ import annotations

from enum import StrEnum

from regtune.service.spec.enums import Task

STRATIFY_MIN = 3
"""A split is stratified by class when every class has at least this many rows (the worker's
``regtune.worker.data``; admission's check of the split sizes, ``cost``)."""


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
