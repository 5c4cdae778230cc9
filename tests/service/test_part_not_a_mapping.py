"""A part of a definition given as no mapping is told what it takes: its keys, or its types,
and null where it may be (was pydantic's "Input should be a valid dictionary or instance of
EarlyStopping", naming a class no definition has, or "… or object to extract fields from").

Fast and in-process: the app under ``TestClient``.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient

from regtune.service.spec.definition import EXAMPLE

EARLY_STOPPING = "must be a mapping {patience, min_delta, restore_best} or null, got "
PRUNERS = "median, percentile, successive_halving, hyperband or threshold"


def _with(path: str, value: Any) -> dict[str, Any]:
    definition = copy.deepcopy(EXAMPLE)
    *parents, leaf = path.split(".")
    node = definition
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return definition


def _fields(api: TestClient, definition: dict[str, Any]) -> list[dict[str, str]]:
    answer = api.post("/v1/studies", json=definition)
    assert answer.status_code == 422, answer.text
    fields: list[dict[str, str]] = answer.json()["error"]["fields"]
    return fields


@pytest.mark.parametrize(
    ("path", "value", "rule"),
    [
        ("training.early_stopping", True, EARLY_STOPPING + "the boolean true"),
        ("training.early_stopping", 5, EARLY_STOPPING + "the number 5"),
        ("model", "mlp", "must be a mapping {kind, hidden_layers, batch_norm}, got the text 'mlp'"),
        (
            "sampler",
            "tpe",
            "must be a mapping {type, …} (type: tpe, random, grid, gp, cmaes, nsgaii or qmc), "
            "got the text 'tpe'",
        ),
        (
            "pruner",
            {"type": "patient", "wrapped": True},
            f"must be a mapping {{type, …}} (type: {PRUNERS}) or null, got the boolean true",
        ),
        (
            "budget.stop",
            [5],
            "must be a mapping {value, patience, min_delta} or null, got a list",
        ),
        (
            "search_space.hidden_layers",
            True,
            "must be a mapping {choices} or null, got the boolean true",
        ),
    ],
    ids=["early_stopping true", "early_stopping 5", "model", "sampler", "wrapped", "stop", "arch"],
)
def test_a_part_given_as_no_mapping_is_told_what_it_takes(
    api: TestClient, path: str, value: Any, rule: str
) -> None:
    fields = _fields(api, _with(path, value))
    where = "pruner.wrapped" if path == "pruner" else path
    assert fields == [{"path": where, "rule": rule}], fields


@pytest.mark.parametrize("value", [True, 3, "x", [1]], ids=["true", "a number", "a text", "a list"])
def test_no_part_names_a_class(api: TestClient, value: Any) -> None:
    """Every part of a definition, and the parts inside them, given as no mapping."""
    paths = [
        "model",
        "search_space",
        "training",
        "training.early_stopping",
        "training.lambda_path",
        "validation",
        "objective",
        "sampler",
        "pruner",
        "budget",
        "budget.stop",
        "dataset.synthetic",
    ]
    for path in paths:
        definition = _with(path, value)
        if path == "dataset.synthetic":
            definition["dataset"] = {"synthetic": value}
        [field] = _fields(api, definition)
        assert field["path"] == path, field
        assert field["rule"].startswith("must be a mapping {"), field
        assert "instance of" not in field["rule"] and "extract fields" not in field["rule"]


def test_other_problems_beside_it_are_said_as_before(api: TestClient) -> None:
    definition = _with("training.early_stopping", True)
    definition["training"]["max_epochs"] = 0
    definition["training"]["batch_size"] = "half"
    fields = {f["path"]: f["rule"] for f in _fields(api, definition)}
    assert fields == {
        "training.max_epochs": "Input should be greater than or equal to 1",
        "training.batch_size": "must be a whole number or 'full', got the text 'half'",
        "training.early_stopping": EARLY_STOPPING + "the boolean true",
    }
