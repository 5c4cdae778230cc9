"""A 422 about the target names ``target``, or ``task`` where the task asked for is the rule
broken, as ``task=binary`` of three classes already did (was: ``path: "file"`` for a constant
target, one class, no value in any row, too many classes, and ``task=multiclass`` of a numeric
target of 200 distinct values)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tests.service.uploads import refusal, upload

N = 60


def rows(y: object, n: int = N) -> bytes:
    x = np.cos(np.arange(n, dtype=np.float64))
    return pd.DataFrame({"x": x, "y": y}).to_csv(index=False).encode()


@pytest.mark.parametrize(
    ("raw", "form", "said"),
    [
        (rows(5.0), {}, "target column 'y' is constant"),
        (rows("a"), {}, "target column 'y' has one class ('a')"),
        (rows(7, 30), {"task": "multiclass"}, "target column 'y' has one class ('7')"),
        (rows(None), {}, "target column 'y' has no value in any row"),
        (
            rows([f"c{i % 51}" for i in range(N)]),
            {},
            "target column 'y' has 51 classes; at most 50 (REGTUNE_DATASET_MAX_CATEGORIES)",
        ),
        (
            rows([f"c{i % 51}" for i in range(N)]),
            {"task": "multiclass"},
            "target column 'y' has 51 classes; at most 50 (REGTUNE_DATASET_MAX_CATEGORIES)",
        ),
    ],
    ids=[
        "constant",
        "one class",
        "one number as classes",
        "empty",
        "51 labels",
        "51 labels as multiclass",
    ],
)
def test_a_target_that_cannot_be_learned_names_the_target(
    api: TestClient, raw: bytes, form: dict[str, str], said: str
) -> None:
    message, fields = refusal(upload(api, raw, **form))
    assert message == said
    assert fields == [{"path": "target", "rule": said}]


def test_numbers_made_too_many_classes_by_the_task_name_the_task(api: TestClient) -> None:
    rule = (
        "multiclass makes each distinct number of 'y' a class: 200 classes, at most 50 "
        "(REGTUNE_DATASET_MAX_CATEGORIES): use task auto or regression"
    )
    message, fields = refusal(upload(api, rows(np.arange(400) % 200, 400), task="multiclass"))
    assert message == f"task: {rule}"
    assert fields == [{"path": "task", "rule": rule}]
