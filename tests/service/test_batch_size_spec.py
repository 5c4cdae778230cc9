"""Where a definition says the minibatch size: ``training.batch_size``, or
``search_space.batch_size`` fixes or searches it, once. A 422 names both places; a definition
stored with both reads back as it was, and admission's batch-norm rule checks the one size."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from regtune.service.spec.definition import StudySpec

ONCE = (
    "give batch_size once: search_space.batch_size fixes or searches it, so leave "
    "training.batch_size out (or at its default, 128)"
)


def definition(name: str, *, training: Any = None, **space: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "dataset": {"builtin": "diabetes"},
        "model": {"kind": "mlp", "hidden_layers": [8]},
        "search_space": {"lambda": 0.01, **space},
        "budget": {"n_trials": 2},
    }
    if training is not None:
        body["training"] = {"batch_size": training}
    return body


def refusal(api: TestClient, body: dict[str, Any]) -> dict[str, str]:
    """The rules a 422 for ``body`` names, by field path; and that nothing was stored."""
    answer = api.post("/v1/studies", json=body)
    assert answer.status_code == 422, answer.text
    assert api.get("/v1/studies").json()["total"] == 0
    return {field["path"]: field["rule"] for field in answer.json()["error"]["fields"]}


@pytest.mark.parametrize(
    "space", [32, {"choices": [32, 64]}, {"low": 16, "high": 64}], ids=["fixed", "choices", "range"]
)
def test_a_batch_size_in_training_and_in_the_search_space_is_a_422_naming_both(
    api: TestClient, space: Any
) -> None:
    """``search_space.batch_size: 32`` beside ``training.batch_size: 128`` was a 201 without a
    word, and every trial trained on the search space's batches. Given in both places, it is
    refused as batch_norm and the architecture are; the default, which the stored definition
    shows beside a searched size, is not a second say."""
    for training in (64, 1, "full"):
        body = definition("twice", training=training, batch_size=space)
        assert refusal(api, body) == {"training.batch_size": ONCE}
    created = api.post("/v1/studies", json=definition("once", batch_size=space))
    assert created.status_code == 201, created.text
    stored = created.json()["definition"]
    assert stored["training"]["batch_size"] == 128
    again = api.post("/v1/studies", json=stored | {"name": "again"})  # its stored definition
    assert again.status_code == 201, again.text
    default = api.post("/v1/studies", json=definition("default", training=128, batch_size=space))
    assert default.status_code == 201, default.text


def test_a_definition_stored_with_both_batch_sizes_reads_back_as_it_was() -> None:
    stored = StudySpec.model_validate(definition("old", batch_size=32)).to_stored()
    stored["training"]["batch_size"] = 1  # accepted before the rule
    read = StudySpec.from_stored(stored)
    assert read.training.batch_size == 1
    assert read.to_stored() == stored


BATCH_NORM = {"kind": "mlp", "hidden_layers": [8], "batch_norm": True}
RULE = (
    "batch_norm (model.batch_norm or search_space.batch_norm) needs batches of at least 2 rows "
    "(a batch of one has no variance, so nothing would train); use batch_size ≥ 2 or "
    "batch_norm: false, got "
)


def test_batch_norm_is_held_to_the_one_batch_size_given(api: TestClient) -> None:
    """With batch norm on, ``training.batch_size: 1`` beside a searched 32 was taken (admission
    checked the searched size alone, the worker trained on it); now refused as given twice, and
    the size given alone is held to the rule."""
    both = definition("both", training=1, batch_size=32) | {"model": BATCH_NORM}
    assert refusal(api, both) == {"training.batch_size": ONCE}
    alone = definition("alone", training=1) | {"model": BATCH_NORM}
    assert refusal(api, alone) == {"training.batch_size": RULE + "1"}


@pytest.mark.parametrize(
    ("space", "got"),
    [(1, "1"), ({"low": 1, "high": 64}, "1..64"), ({"choices": [64, 1]}, "the choice 1")],
    ids=["fixed", "range", "choices"],
)
def test_the_batch_norm_rule_says_the_batch_size_as_it_was_given(
    api: TestClient, space: Any, got: str
) -> None:
    """It ended "got (1.0, 1.0)" for a fixed 1 and "got (1.0, 64.0)" for a range, a tuple of
    floats: now as the knobs' own rules say a value, a range and a choice."""
    body = definition("space", batch_size=space) | {"model": BATCH_NORM}
    assert refusal(api, body) == {"search_space.batch_size": RULE + got}
