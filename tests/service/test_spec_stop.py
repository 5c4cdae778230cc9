"""``budget.stop``: which stop rules a definition may give (a goal value, a patience with its
``min_delta``), and which are refused: a 422 naming the field and the rule, nothing stored
(was: any ``budget.stop`` was an unknown field)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from regtune.service.spec.definition import StudySpec
from tests.service.test_architecture_spec import refusal
from tests.service.test_rest_contract import definition


def with_stop(stop: Any, **more: Any) -> dict[str, Any]:
    made = definition("stopping", 20) | more
    made["budget"] = made["budget"] | {"stop": stop}
    return made


@pytest.mark.parametrize(
    ("stop", "stored"),
    [
        ({"value": 0.25}, {"value": 0.25, "patience": None, "min_delta": 0.0}),
        ({"patience": 5}, {"value": None, "patience": 5, "min_delta": 0.0}),
        (
            {"value": 1, "patience": 3, "min_delta": 0.01},
            {"value": 1.0, "patience": 3, "min_delta": 0.01},
        ),
    ],
)
def test_a_stop_rule_is_stored_with_its_defaults_and_reads_back(
    api: TestClient, stop: dict[str, Any], stored: dict[str, Any]
) -> None:
    created = api.post("/v1/studies", json=with_stop(stop))
    assert created.status_code == 201, created.text
    kept = created.json()["definition"]
    assert kept["budget"]["stop"] == stored
    read = StudySpec.from_stored(kept)  # as a worker reads it
    assert read.budget.stop is not None and read.budget.stop.model_dump() == stored
    assert read.to_stored() == kept


@pytest.mark.parametrize(
    ("stop", "path", "rule"),
    [
        ({}, "budget.stop", "give value, patience or both"),
        ({"min_delta": 0.1}, "budget.stop", "give value, patience or both"),
        ({"patience": 0}, "budget.stop.patience", "greater than or equal to 1"),
        ({"patience": 2.5}, "budget.stop.patience", "valid integer"),
        ({"patience": "3"}, "budget.stop.patience", "whole number"),
        ({"patience": 3, "min_delta": -0.1}, "budget.stop.min_delta", "greater than or equal to 0"),
        ({"value": "0.9"}, "budget.stop.value", "number"),
        ({"value": 0.9, "goal": 1}, "budget.stop.goal", "Extra inputs are not permitted"),
        ([5], "budget.stop", "must be a mapping {value, patience, min_delta} or null, got a list"),
    ],
)
def test_a_bad_stop_rule_is_a_422_naming_its_field_and_rule(
    api: TestClient, stop: Any, path: str, rule: str
) -> None:
    found = refusal(api, with_stop(stop))
    assert list(found) == [path], found
    assert rule in found[path], found


def test_a_value_that_is_not_finite_is_refused(api: TestClient) -> None:
    """JSON has no infinity, but YAML has ``.inf``, and Python's json module writes one."""
    answer = api.post(
        "/v1/studies",
        content=b'{"name": "inf", "dataset": {"builtin": "diabetes"}, '
        b'"budget": {"stop": {"value": Infinity}}}',
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 422, answer.text
    fields = answer.json()["error"]["fields"]
    assert fields == [{"path": "budget.stop.value", "rule": "Input should be a finite number"}]


def test_a_stop_rule_of_several_objectives_is_refused_at_budget_stop(api: TestClient) -> None:
    body = with_stop({"patience": 5}, objectives=["val_loss", "n_nonzero"])
    found = refusal(api, body)
    assert list(found) == ["budget.stop"], found
    assert found["budget.stop"].startswith(
        "one objective only: a Pareto front has no single best value"
    ), found


@pytest.mark.parametrize(
    ("metric", "stop", "n_trials", "warned"),
    [
        (
            "val_loss",
            {"patience": 20},
            20,
            "budget.stop.patience: 20 is not below budget.n_trials 20",
        ),
        ("val_loss", {"patience": 30}, 20, "budget.stop.patience: 30 is not below"),
        (
            "val_loss",
            {"value": -0.1},
            20,
            "budget.stop.value: -0.1 is never reached: val_loss is at least 0",
        ),
        (
            "val_r2",
            {"value": 1.2},
            20,
            "budget.stop.value: 1.2 is never reached: val_r2 is at most 1",
        ),
    ],
)
def test_a_stop_rule_that_can_never_stop_the_study_is_warned(
    api: TestClient, metric: str, stop: dict[str, Any], n_trials: int, warned: str
) -> None:
    made = with_stop(stop, objective={"metric": metric})
    made["budget"]["n_trials"] = n_trials
    created = api.post("/v1/studies", json=made)
    assert created.status_code == 201, created.text
    warnings = created.json()["warnings"]
    assert len(warnings) == 1 and warnings[0].startswith(warned), warnings


@pytest.mark.parametrize(
    ("metric", "stop"),
    [
        ("val_loss", {"patience": 19, "value": 0.0}),
        ("val_r2", {"value": 1.0}),
        ("val_r2", {"value": -3.0, "patience": 5}),
    ],
)
def test_a_stop_rule_that_can_stop_the_study_is_not_warned(
    api: TestClient, metric: str, stop: dict[str, Any]
) -> None:
    created = api.post("/v1/studies", json=with_stop(stop, objective={"metric": metric}))
    assert created.status_code == 201, created.text
    assert created.json()["warnings"] == []
