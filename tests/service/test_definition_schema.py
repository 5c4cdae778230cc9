"""A study's ``definition`` answers by the definition's own schema, the one ``POST /v1/studies``
takes (was: a free-form object, so a client generated from ``/openapi.json`` got an untyped
dict), and a definition stored by an earlier version, which lacks the fields added since, still
answers as that schema says."""

from __future__ import annotations

import copy
from typing import Any

from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from sqlalchemy import create_engine, select, update

from regtune.service.spec.definition import EXAMPLE, StudySpec
from regtune.service.spec.space import Range
from regtune.service.store.db import get_engine
from regtune.service.store.tables import StudyRow
from tests.inprocess import Apps
from tests.service.test_rest_contract import conforms
from tests.worker.test_newer_definitions import _written_by_a_newer_regtune

SPEC = "#/components/schemas/StudySpec"


def definition_errors(schema: dict[str, Any], definition: dict[str, Any]) -> list[str]:
    """Where ``definition`` breaks the schema the served ``StudyOut.definition`` names."""
    field = schema["components"]["schemas"]["StudyOut"]["properties"]["definition"]
    validator = Draft202012Validator({**field, "components": schema["components"]})
    return [
        f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(definition)
    ]


def test_the_definition_answers_as_the_schema_the_post_body_takes(api: TestClient) -> None:
    schema = api.get("/openapi.json").json()
    field = schema["components"]["schemas"]["StudyOut"]["properties"]["definition"]
    body = schema["paths"]["/v1/studies"]["post"]["requestBody"]["content"]["application/json"]
    assert field["$ref"] == body["schema"]["$ref"] == SPEC
    assert "additionalProperties" not in field
    created = api.post("/v1/studies", json=EXAMPLE)
    assert created.status_code == 201, created.text
    study = api.get(f"/v1/studies/{created.json()['id']}")
    conforms(schema, "/v1/studies/{study_id}", study)
    definition = study.json()["definition"]
    assert definition_errors(schema, definition) == []
    read = StudySpec.from_stored(definition)  # the typed field, as the schema's model reads it
    assert isinstance(read.search_space.lambda_, Range)
    assert read.name == EXAMPLE["name"] and read.search_space.lambda_.high == 10.0
    assert read.to_stored() == definition


def as_stored_earlier(stored: dict[str, Any]) -> dict[str, Any]:
    """A definition as an earlier version stored it: without fields added since (each has a
    default), and ``refit_rows`` beside ``refit: false`` (``test_spec``)."""
    earlier = copy.deepcopy(stored)
    del earlier["search_space"]["relax"], earlier["search_space"]["batch_size"]
    del earlier["objective"]["relax_margin"], earlier["objective"]["select"]
    del earlier["training"]["fused_trials"], earlier["validation"]["chosen_by"]
    return earlier | {"refit": False, "refit_rows": "all"}


def test_a_definition_stored_by_an_earlier_version_answers_as_the_schema_says(
    apps: Apps,
) -> None:
    api = apps()
    created = api.post("/v1/studies", json=EXAMPLE).json()
    earlier = as_stored_earlier(created["definition"])
    database = Apps.database_path(api)
    engine = create_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        connection.execute(
            update(StudyRow).where(StudyRow.id == created["id"]).values(spec=earlier)
        )
    engine.dispose()
    reopened = apps(database=database)  # a new process: nothing read before is remembered
    schema = reopened.get("/openapi.json").json()
    study = reopened.get(f"/v1/studies/{created['id']}")
    assert study.status_code == 200, study.text
    conforms(schema, "/v1/studies/{study_id}", study)
    assert study.json()["definition"] == earlier  # as stored
    assert definition_errors(schema, earlier) == []
    assert StudySpec.from_stored(earlier).refit is False


def test_the_503_of_a_definition_a_newer_version_stored_is_declared_where_it_is_answered(
    apps: Apps,
) -> None:
    """Each operation on such a study answers as before, or 503 ``definition_too_new``, and
    only those that answer it say so in their 503's description (was: every operation's did,
    datasets and keys included); a refused cancel or extension leaves the study as it was (was,
    for a cancel: cancelled, then answered 503)."""
    created = apps().post("/v1/studies", json=EXAMPLE).json()["id"]
    _written_by_a_newer_regtune(created)
    api = apps(database=Apps.database_path(apps.clients[-1]))  # a process that never read it
    schema = api.get("/openapi.json").json()
    study = api.get("/v1/studies").json()["items"][0]["id"]
    too_new = set()
    for method, path in (
        ("get", "/v1/studies/{study_id}"),
        ("get", "/v1/studies/{study_id}/trials"),
        ("get", "/v1/studies/{study_id}/trials/{number}"),
        ("get", "/v1/studies/{study_id}/best-model"),
        ("get", "/v1/studies/{study_id}/report"),
        ("post", "/v1/studies/{study_id}/cancel"),
        ("post", "/v1/studies/{study_id}/extend"),
    ):
        body = {"n_trials": 1} if path.endswith("/extend") else None
        answer = api.request(method, path.format(study_id=study, number=0), json=body)
        conforms(schema, path, answer)
        if answer.status_code == 503:
            assert answer.json()["error"]["code"] == "definition_too_new", answer.text
            too_new.add(schema["paths"][path][method]["operationId"])
    said = {
        operation["operationId"]
        for operations in schema["paths"].values()
        for operation in operations.values()
        if "definition_too_new" in operation["responses"].get("503", {}).get("description", "")
    }
    assert said == too_new == {"get_study", "study_report", "cancel_study", "extend_study"}
    with get_engine().connect() as connection:  # the refused cancel and extension changed nothing
        stored = connection.execute(
            select(StudyRow.status, StudyRow.n_trials).where(StudyRow.id == study)
        ).one()
    assert tuple(stored) == ("queued", EXAMPLE["budget"]["n_trials"])


def request_errors(schema: dict[str, Any], definition: dict[str, Any]) -> list[str]:
    """Where ``definition`` breaks the schema ``POST /v1/studies`` declares for its body."""
    validator = Draft202012Validator({"$ref": SPEC, "components": schema["components"]})
    return [
        f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(definition)
    ]


def test_a_flag_is_declared_as_it_is_written_and_answered(api: TestClient) -> None:
    """``batch_norm`` is declared true/false or {choices: [true, false]}, as README writes it
    and the answer gives it back (was: the number schema of other knobs, which a validating
    client held both the documented request and every answer of such a study to break)."""
    schema = api.get("/openapi.json").json()
    for flag in (True, {"choices": [True, False]}):
        definition = {
            "name": f"flag-{isinstance(flag, bool)}",
            "dataset": {"builtin": "iris"},
            "model": {"kind": "mlp", "hidden_layers": [8]},
            "search_space": {"batch_norm": flag},
            "training": {"max_epochs": 2},
            "budget": {"n_trials": 2},
        }
        assert request_errors(schema, definition) == []
        created = api.post("/v1/studies", json=definition)
        assert created.status_code == 201, created.text
        answered = created.json()["definition"]
        assert answered["search_space"]["batch_norm"] == flag
        assert definition_errors(schema, answered) == []
        conforms(schema, "/v1/studies/{study_id}", api.get(f"/v1/studies/{created.json()['id']}"))
    wrong = {"name": "flag-number", "search_space": {"batch_norm": {"choices": [0.5]}}}
    assert any("batch_norm" in error for error in request_errors(schema, wrong))
