"""Where a definition says batch normalization: ``model.batch_norm`` fixes it, or
``search_space.batch_norm`` fixes or searches it, once; and only an MLP has it. A 422 names the
field and the rule; a definition stored before these rules reads back as it was."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from regtune.service.spec.definition import StudySpec


def definition(name: str, *, model: dict[str, Any], **space: Any) -> dict[str, Any]:
    return {
        "name": name,
        "model": model,
        "search_space": space,
        "dataset": {"builtin": "diabetes"},
        "budget": {"n_trials": 2},
    }


def refusal(api: TestClient, body: dict[str, Any]) -> dict[str, str]:
    """The rules a 422 for ``body`` names, by field path; and that nothing was stored."""
    answer = api.post("/v1/studies", json=body)
    assert answer.status_code == 422, answer.text
    assert api.get("/v1/studies").json()["total"] == 0
    return {field["path"]: field["rule"] for field in answer.json()["error"]["fields"]}


ONCE = (
    "give batch_norm once: search_space.batch_norm fixes or searches it, so leave "
    "model.batch_norm out (or false)"
)


def test_batch_norm_turned_on_in_the_model_and_set_by_the_search_space_is_a_422(
    api: TestClient,
) -> None:
    """``model.batch_norm: true`` beside ``search_space.batch_norm: false`` was a 201, and no
    trial normalized: the search space's value wins in the worker. Given in both places, it is
    refused as a fixed and a searched architecture are, agreeing or not; ``false``, the model's
    value when the search space sets it (as the definition is stored), is not a second say."""
    mlp = {"kind": "mlp", "hidden_layers": [8], "batch_norm": True}
    for space in (False, True, {"choices": [True, False]}):
        body = definition("t-bn2", model=mlp, batch_norm=space) | {"training": {"batch_size": 4}}
        assert refusal(api, body) == {"model.batch_norm": ONCE}
    off = {"kind": "mlp", "hidden_layers": [8], "batch_norm": False}
    searched = api.post("/v1/studies", json=definition("off", model=off, batch_norm=True))
    assert searched.status_code == 201, searched.text
    stored = searched.json()["definition"]
    again = api.post("/v1/studies", json=stored | {"name": "again"})  # its stored definition
    assert again.status_code == 201, again.text
    assert api.post("/v1/studies", json=definition("model", model=mlp)).status_code == 201


def test_a_definition_stored_with_batch_norm_in_both_places_reads_back_as_it_was() -> None:
    mlp = {"kind": "mlp", "hidden_layers": [8]}
    stored = StudySpec.model_validate(definition("old", model=mlp, batch_norm=False)).to_stored()
    stored["model"]["batch_norm"] = True  # accepted before the rule
    read = StudySpec.from_stored(stored)
    assert read.model.batch_norm is True
    assert read.to_stored()["search_space"]["batch_norm"] is False
    assert read.to_stored() == stored


def test_batch_norm_on_a_linear_model_is_a_422_as_in_the_search_space(api: TestClient) -> None:
    """``model: {kind: linear, batch_norm: true}`` was a 201, stored without a word, and the
    linear model never normalized; ``search_space.batch_norm`` on one was already a 422."""
    rule = "batch_norm applies to MLPs only (model.kind linear has one layer)"
    for model in ({"kind": "linear", "batch_norm": True}, {"batch_norm": True}):
        assert refusal(api, definition("linear", model=model)) == {"model.batch_norm": rule}
    assert refusal(api, definition("space", model={"kind": "linear"}, batch_norm=True)) == {
        "search_space.batch_norm": rule
    }
    off = definition("off", model={"kind": "linear", "batch_norm": False})
    assert api.post("/v1/studies", json=off).status_code == 201
    stored = StudySpec.model_validate(definition("old", model={"kind": "linear"})).to_stored()
    stored["model"]["batch_norm"] = True  # accepted before the rule
    read = StudySpec.from_stored(stored)
    assert read.model.batch_norm is True and read.to_stored() == stored
