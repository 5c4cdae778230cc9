"""``search_space.relax``, the relaxed elastic net: searched over [0, 0.8] by default where it
applies (a linear regression under the exact solver, a sampler other than grid), refused with a
422 naming the field where it does not, and never filled in when a stored definition is read."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from regtune.service.api.studies import admit
from regtune.service.errors import InvalidDefinition
from regtune.service.settings import get_settings
from regtune.service.spec.definition import EXAMPLE, StudySpec
from regtune.service.spec.resolve import RELAX_DEFAULT, resolve_relax
from regtune.service.spec.space import Fixed, Range
from tests.support import changed

FULL = {"low": 0.0, "high": 0.8, "log": False, "step": None}
"""``RELAX_DEFAULT`` as ``to_stored`` writes it."""


def definition(**changes: Any) -> dict[str, Any]:
    """The OpenAPI example (diabetes, a linear regression under the exact solver), changed at
    ``a__b`` paths."""
    return changed(EXAMPLE, name="relax", **changes)


def admitted(body: dict[str, Any]) -> StudySpec:
    return admit(body, tenant="default", settings=get_settings())


def refused(body: dict[str, Any]) -> dict[str, str]:
    """The 422's rules by field path."""
    with pytest.raises(InvalidDefinition) as caught:
        admitted(body)
    return {problem.path: problem.rule for problem in caught.value.fields}


def test_a_linear_regression_searches_relax_by_default() -> None:
    spec = admitted(definition())
    assert spec.search_space.relax == RELAX_DEFAULT
    assert spec.to_stored()["search_space"]["relax"] == FULL
    assert dict(spec.search_space.searched())["relax"].values == (0.0, 0.8)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (0, 0.0),
        (0.5, 0.5),
        ({"low": 0.0, "high": 0.5}, {"low": 0.0, "high": 0.5, "log": False, "step": None}),
        ({"choices": [0, 1]}, {"choices": [0.0, 1.0]}),
    ],
    ids=["0", "0.5", "range", "choices"],
)
def test_a_given_relax_is_kept_as_given(given: Any, stored: Any) -> None:
    spec = admitted(definition(search_space__relax=given))
    assert spec.to_stored()["search_space"]["relax"] == stored
    assert StudySpec.from_stored(spec.to_stored()) == spec


@pytest.mark.parametrize("dataset", ["iris", "breast_cancer"])
def test_classification_leaves_relax_out(dataset: str) -> None:
    spec = admitted(definition(dataset={"builtin": dataset}))
    assert spec.search_space.relax is None
    assert spec.to_stored()["search_space"]["relax"] is None
    assert "relax" not in dict(spec.search_space.items())


@pytest.mark.parametrize("dataset", ["iris", "breast_cancer"])
@pytest.mark.parametrize("relax", [{"low": 0.0, "high": 1.0}, 0.5, {"choices": [0, 1]}])
def test_classification_refuses_relax_once_the_task_is_resolved(dataset: str, relax: Any) -> None:
    rules = refused(definition(dataset={"builtin": dataset}, search_space__relax=relax))
    assert "relax applies to regression" in rules["search_space.relax"]


def test_classification_takes_relax_0() -> None:
    spec = admitted(definition(dataset={"builtin": "iris"}, search_space__relax=0))
    assert spec.search_space.relax == Fixed(value=0.0)


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_a_classification_task_given_is_refused_by_the_definition_itself(task: str) -> None:
    body = definition(dataset={"synthetic": {"kind": "classification"}}, task=task)
    body["search_space"]["relax"] = 0.5
    rules = refused(body)
    assert "relax applies to regression" in rules["search_space.relax"]
    with pytest.raises(ValueError, match=r"search_space\.relax"):
        StudySpec.model_validate(body)


@pytest.mark.parametrize(
    "changes",
    [
        {"model": {"kind": "mlp", "hidden_layers": [8]}, "training__solver": "minibatch"},
        {"training__solver": "minibatch"},
    ],
    ids=["mlp", "linear under minibatch"],
)
@pytest.mark.parametrize("relax", [{"low": 0.0, "high": 1.0}, 0.5])
def test_relax_needs_a_linear_model_under_the_exact_solver(
    changes: dict[str, Any], relax: Any
) -> None:
    rules = refused(definition(**changes, search_space__relax=relax))
    assert "relax applies to a linear model under the exact solver" in rules["search_space.relax"]


@pytest.mark.parametrize(
    "changes",
    [
        {"model": {"kind": "mlp", "hidden_layers": [8]}, "training__solver": "minibatch"},
        {"training__solver": "minibatch"},
    ],
    ids=["mlp", "linear under minibatch"],
)
def test_no_default_outside_the_exact_solver(changes: dict[str, Any]) -> None:
    assert admitted(definition(**changes)).search_space.relax is None
    spec = admitted(definition(**changes, search_space__relax=0))
    assert spec.search_space.relax == Fixed(value=0.0)


def test_the_grid_sampler_gets_no_default() -> None:
    body = definition(
        sampler={"type": "grid"},
        search_space={"lambda": {"choices": [0.01, 0.1, 1.0]}, "l1_ratio": {"choices": [0.5, 1]}},
        training__lambda_path=None,
        budget__n_trials=6,  # the grid's points
    )
    assert admitted(body).search_space.relax is None
    body["search_space"]["relax"] = {"choices": [0, 0.5, 1]}
    assert dict(admitted(body).search_space.searched())["relax"].values == (0.0, 1.0)


@pytest.mark.parametrize("sampler", ["random", "cmaes", "qmc"])
def test_other_samplers_get_the_default(sampler: str) -> None:
    spec = admitted(definition(sampler={"type": sampler}))
    assert spec.search_space.relax == RELAX_DEFAULT


def test_a_stored_definition_without_relax_reads_back_without_it() -> None:
    """A study stored before the knob existed keeps the search space it ran with."""
    stored = StudySpec.model_validate(definition(task="regression")).to_stored()
    del stored["search_space"]["relax"]
    spec = StudySpec.from_stored(stored)
    assert spec.task == "regression"
    assert spec.search_space.relax is None
    stored["search_space"]["relax"] = None
    assert StudySpec.from_stored(stored).search_space.relax is None


def test_the_default_round_trips_through_the_stored_form() -> None:
    spec = admitted(definition())
    assert StudySpec.from_stored(spec.to_stored()) == spec
    assert isinstance(spec.search_space.relax, Range)
    assert spec.search_space.relax is not RELAX_DEFAULT  # a copy: the constant stays as it is


def test_resolve_relax_leaves_an_unresolved_task_alone() -> None:
    spec = StudySpec.model_validate(definition())
    assert spec.task == "auto"
    assert resolve_relax(spec).search_space.relax is None


def test_the_api_stores_the_default_and_answers_422(api: TestClient) -> None:
    created = api.post("/v1/studies", json=definition())
    assert created.status_code == 201, created.text
    assert created.json()["definition"]["search_space"]["relax"] == FULL
    body = definition(dataset={"builtin": "iris"}, search_space__relax={"low": 0, "high": 1})
    body["name"] = "relax-iris"
    response = api.post("/v1/studies", json=body)
    assert response.status_code == 422, response.text
    paths = [f["path"] for f in response.json()["error"]["fields"]]
    assert paths == ["search_space.relax"]


def test_a_definition_with_every_knob_fixed_gets_no_default() -> None:
    """One configuration, as given: searching relax would make it several."""
    spec = admitted(definition(search_space={"lambda": 0.01, "l1_ratio": 0.5}))
    assert spec.search_space.searched() == []
    assert spec.search_space.relax is None
