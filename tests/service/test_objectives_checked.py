"""Every objective of a definition is checked against its task, each refusal at the field that
says it: ``objectives.1`` (was: only ``objective.metric``, so a second objective the task does
not measure was a 201 and its study never ended), and an ``objective.metric`` other than
``objectives[0]`` at ``objective.metric`` (was: at ``body``)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from regtune.service.spec.definition import StudySpec
from tests.service.uploads import upload

BINARY_CSV = "".join(f"{i % 7},{(i * 3) % 5},{i % 2}\n" for i in range(60)).encode()


def refused_at(api: TestClient, definition: dict[str, Any]) -> tuple[str, str]:
    answer = api.post("/v1/studies", json=definition)
    assert answer.status_code == 422, answer.text
    [field] = answer.json()["error"]["fields"]
    return field["path"], field["rule"]


@pytest.mark.parametrize(
    ("dataset", "task"),
    [
        ({"builtin": "breast_cancer"}, "binary"),
        ({"synthetic": {"kind": "classification", "n_classes": 3}}, "multiclass"),
    ],
)
def test_a_second_objective_the_task_does_not_measure_is_refused_at_its_place(
    api: TestClient, dataset: dict[str, Any], task: str
) -> None:
    definition = {
        "name": "x",
        "dataset": dataset,
        "objectives": ["val_accuracy", "n_nonzero", "val_r2"],
        "budget": {"n_trials": 3},
    }
    path, rule = refused_at(api, definition)
    assert path == "objectives.2"
    assert rule.startswith(f"val_r2 does not apply to a {task} task; use one of ["), rule
    assert api.get("/v1/studies").json()["items"] == []
    fitting = {**definition, "objectives": ["val_accuracy", "n_nonzero"]}
    assert api.post("/v1/studies", json=fitting).status_code == 201


def test_an_uploaded_binary_datasets_objectives_are_checked_once_its_task_is_known(
    api: TestClient,
) -> None:
    dataset = upload(api, b"a,b,y\n" + BINARY_CSV)
    assert dataset["task"] == "binary", dataset
    definition = {
        "name": "x",
        "dataset": {"id": dataset["id"]},
        "objectives": ["val_auc", "val_rmse"],
        "budget": {"n_trials": 3},
    }
    path, rule = refused_at(api, definition)
    assert path == "objectives.1" and "val_rmse does not apply to a binary task" in rule, rule
    path, _ = refused_at(api, {**definition, "task": "binary"})
    assert path == "objectives.1"


def test_an_objective_metric_other_than_the_first_objective_is_refused_at_its_field(
    api: TestClient,
) -> None:
    definition = {
        "name": "x",
        "dataset": {"builtin": "diabetes"},
        "objectives": ["val_loss", "n_nonzero"],
        "objective": {"metric": "val_r2"},
    }
    path, rule = refused_at(api, definition)
    assert path == "objective.metric"
    assert rule.startswith("objective.metric must equal objectives[0], got val_r2 and val_loss")


def test_a_study_stored_with_such_an_objective_still_reads(api: TestClient) -> None:
    """Accepted before the check: its definition reads back as stored (the worker fails its
    trials, each saying the objective it did not measure)."""
    definition = {
        "name": "x",
        "dataset": {"builtin": "breast_cancer"},
        "objectives": ["val_accuracy", "n_nonzero"],
    }
    stored = api.post("/v1/studies", json=definition).json()["definition"]
    earlier = {**stored, "objectives": ["val_accuracy", "val_r2"]}
    assert StudySpec.from_stored(earlier).objectives == ["val_accuracy", "val_r2"]
