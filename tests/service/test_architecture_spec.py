"""``search_space.hidden_layers``: which definitions searching an MLP's architecture are taken,
which are refused (a 422 naming the field and the rule, nothing stored), and what admission
counts for them."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from regtune.service.spec import cost
from regtune.service.spec.definition import StudySpec

LAYERS = {"choices": [[64], [128, 64], [256, 128]]}


def mlp(name: str, *, model: dict[str, Any] | None = None, **space: Any) -> dict[str, Any]:
    return {
        "name": name,
        "dataset": {"builtin": "digits"},
        "model": model if model is not None else {"kind": "mlp"},
        "search_space": {"lambda": {"low": 1e-5, "high": 1e-1, "log": True}, **space},
        "budget": {"n_trials": 10},
    }


def refusal(api: TestClient, body: dict[str, Any]) -> dict[str, str]:
    """The rules a 422 for ``body`` names, by field path; and that nothing was stored."""
    answer = api.post("/v1/studies", json=body)
    assert answer.status_code == 422, answer.text
    assert api.get("/v1/studies").json()["total"] == 0
    return {field["path"]: field["rule"] for field in answer.json()["error"]["fields"]}


def test_an_mlp_without_a_hidden_layer_is_a_422_that_says_to_give_a_linear_model(
    api: TestClient,
) -> None:
    """``hidden_layers: []`` was accepted and trained one Linear layer, on which dropout,
    batch_norm and layer_penalty do nothing (a grid over dropout gave one value three times).
    A linear model's empty list, and an MLP stored with one before the rule, read back."""
    body = mlp("flat", model={"kind": "mlp", "hidden_layers": []}, dropout={"choices": [0, 0.5]})
    fields = refusal(api, body)
    assert list(fields) == ["model.hidden_layers"], fields
    assert fields["model.hidden_layers"] == (
        "an MLP has at least one hidden layer, got []: for no hidden layer give model.kind linear"
    )
    linear = {
        "name": "linear",
        "dataset": {"builtin": "diabetes"},
        "model": {"kind": "linear", "hidden_layers": []},
    }
    assert api.post("/v1/studies", json=linear).status_code == 201
    stored = StudySpec.model_validate(mlp("stored", model={"kind": "mlp"})).to_stored()
    stored["model"]["hidden_layers"] = []
    assert StudySpec.from_stored(stored).model.hidden_layers == []


def test_a_searched_architecture_is_stored_once_and_reads_back(api: TestClient) -> None:
    created = api.post("/v1/studies", json=mlp("layers", hidden_layers=LAYERS))
    assert created.status_code == 201, created.text
    definition = created.json()["definition"]
    assert definition["search_space"]["hidden_layers"] == LAYERS
    assert definition["model"]["hidden_layers"] is None
    stored = StudySpec.from_stored(definition)  # as a worker reads it
    assert stored.architectures() == LAYERS["choices"]
    assert stored.hidden_layers({"hidden_layers": 1.0}) == (128, 64)


def test_a_fixed_architecture_stores_no_search_of_one(api: TestClient) -> None:
    """Not searched, ``search_space.hidden_layers`` is left out of the stored definition (not
    stored as null): the last release's workers refuse a field they do not know, so a study
    that does not search architectures stays one they run during a rolling upgrade."""
    created = api.post("/v1/studies", json=mlp("fixed", model={"kind": "mlp"}))
    assert created.status_code == 201, created.text
    definition = created.json()["definition"]
    assert "hidden_layers" not in definition["search_space"]
    assert definition["model"]["hidden_layers"] == [64, 64]
    read = StudySpec.from_stored(definition)
    assert read.search_space.hidden_layers is None
    assert read.to_stored() == definition


CHOICES = "search_space.hidden_layers.choices"
BAD = {
    "bare list": ([64, 64], "search_space.hidden_layers", "a fixed architecture"),
    "one choice": ({"choices": [[64]]}, CHOICES, "at least 2"),
    "17 choices": ({"choices": [[i + 1] for i in range(17)]}, CHOICES, "at most 16"),
    "repeated": ({"choices": [[64, 32], [16], [64, 32]]}, CHOICES, "distinct architectures"),
    "no layer": ({"choices": [[64], []]}, f"{CHOICES}.1", "at least 1 item"),
    "9 layers": ({"choices": [[64], [8] * 9]}, f"{CHOICES}.1", "at most 8 items"),
    "0 units": ({"choices": [[64], [0]]}, f"{CHOICES}.1.0", "greater than or equal to 1"),
    "4097 units": ({"choices": [[64], [4097]]}, f"{CHOICES}.1.0", "less than or equal to 4096"),
    "fractional units": ({"choices": [[64], [32.5]]}, f"{CHOICES}.1.0", "integer"),
}


@pytest.mark.parametrize(("layers", "path", "rule"), list(BAD.values()), ids=list(BAD))
def test_a_bad_architecture_search_is_a_422_naming_the_rule(
    api: TestClient, layers: Any, path: str, rule: str
) -> None:
    fields = refusal(api, mlp("bad", hidden_layers=layers))
    assert list(fields) == [path] and rule in fields[path], fields


def test_the_architecture_is_given_once_and_only_for_an_mlp(api: TestClient) -> None:
    both = mlp("both", model={"kind": "mlp", "hidden_layers": [32]}, hidden_layers=LAYERS)
    assert "give the architecture once" in refusal(api, both)["model.hidden_layers"]
    linear = mlp("linear", model={"kind": "linear"}, hidden_layers=LAYERS)
    assert "MLPs only" in refusal(api, linear)["search_space.hidden_layers"]
    nothing = mlp("nothing", model={"kind": "mlp", "hidden_layers": None})
    assert "null only when" in refusal(api, nothing)["model.hidden_layers"]
    explicit_null = mlp("null", model={"kind": "mlp", "hidden_layers": None}, hidden_layers=LAYERS)
    assert api.post("/v1/studies", json=explicit_null).status_code == 201


def test_admission_costs_a_searched_architecture_at_its_largest_choice(api: TestClient) -> None:
    """A huge architecture among small ones cannot slip past the memory limit: the 422 names
    search_space.hidden_layers, as model.hidden_layers alone would be named."""
    huge = {"choices": [[16], [4096] * 8]}
    body = mlp("huge", hidden_layers=huge) | {"validation": {"folds": 3}}
    fields = refusal(api, body)
    assert "REGTUNE_MAX_TRIAL_MEMORY_MB" in fields["search_space.hidden_layers"], fields
    assert "model.hidden_layers" not in fields
    alone = mlp("alone", model={"kind": "mlp", "hidden_layers": [4096] * 8})
    fields = refusal(api, alone | {"validation": {"folds": 3}})
    assert "REGTUNE_MAX_TRIAL_MEMORY_MB" in fields["model.hidden_layers"], fields

    shape = cost.DataShape(rows=1797, features=64, classes=10)
    searched = StudySpec.model_validate(mlp("s", hidden_layers=LAYERS))
    largest = StudySpec.model_validate(mlp("l", model={"kind": "mlp", "hidden_layers": [256, 128]}))
    assert cost.estimate(searched, shape) == cost.estimate(largest, shape)


def test_a_grid_counts_the_architectures_among_its_points() -> None:
    body = mlp("grid", hidden_layers=LAYERS, dropout={"choices": [0.0, 0.1]})
    body["search_space"] |= {"lambda": 1e-3, "l1_ratio": 0.5}
    spec = StudySpec.model_validate(body | {"sampler": {"type": "grid"}})
    assert cost.grid_points(spec) == 3 * 2


def test_a_linear_study_stores_no_hidden_layer(api: TestClient) -> None:
    """A linear model has no hidden layer: its stored definition says ``[]`` (was the MLP's
    default ``[64, 64]``, shown by the API and optuna-dashboard's note, never trained), and a
    linear definition that gives hidden layers is a 422 naming the field."""
    linear = mlp("linear", model={"kind": "linear"}) | {"dataset": {"builtin": "diabetes"}}
    layered = linear | {"model": {"kind": "linear", "hidden_layers": [64]}}
    assert "MLPs only" in refusal(api, layered)["model.hidden_layers"]
    created = api.post("/v1/studies", json=linear)
    assert created.status_code == 201, created.text
    definition = created.json()["definition"]
    assert definition["model"]["hidden_layers"] == []
    older = definition | {"model": {"kind": "linear", "hidden_layers": [64, 64]}}
    assert StudySpec.from_stored(older).model.hidden_layers == [64, 64]  # as it was stored


SEARCHED_AS = (
    "hidden_layers is searched as {choices: [[64], [128, 64], ...]} (2 to 16 architectures)"
)


@pytest.mark.parametrize(
    ("given", "got"),
    [({"low": 1, "high": 3}, "{low, high}"), ({}, "{}"), ({"values": [[64], [32]]}, "{values}")],
    ids=["a range", "empty", "another key"],
)
def test_a_searched_architecture_without_choices_names_the_key_and_how_to_write_it(
    api: TestClient, given: dict[str, Any], got: str
) -> None:
    """``hidden_layers: {low: 1, high: 3}`` was "search_space.hidden_layers: Field required"
    and "….low: Extra inputs are not permitted", at a path without the key missing (``choices``
    was taken for the tag of a knob's choices and dropped), and ``{}`` the first alone: one
    problem at ``search_space.hidden_layers.choices`` that says how architectures are searched,
    as a range without ``high`` is told at ``search_space.lambda.high``."""
    fields = refusal(api, mlp("no-choices", hidden_layers=given))
    assert fields == {
        "search_space.hidden_layers.choices": f"Field required: {SEARCHED_AS}, got {got}; a "
        "fixed architecture is model.hidden_layers"
    }
    fewer = refusal(api, mlp("one-choice", hidden_layers={"choices": [[64]]}))
    assert list(fewer) == ["search_space.hidden_layers.choices"], fewer
    knob = refusal(api, mlp("knob", dropout={"choices": []}))
    assert list(knob) == ["search_space.dropout.choices"], knob
