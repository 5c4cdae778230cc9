"""Every body the API reads as JSON or YAML is read as ``POST /v1/studies`` reads a definition:
JSON whatever the content type but a YAML one (``curl -d`` sends a form's), YAML for a YAML
type, and a body that cannot be read is a 400 in the same words on every route (was, for
``extend`` and ``POST /v1/keys``: a 422 "body: Input should be a valid dictionary or object to
extract fields from" for a JSON object sent by ``curl -d``).

Fast and in-process: the keyed app under ``TestClient``.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.inprocess import Apps
from tests.service.test_rest_contract import definition

ADMIN = "bodies-admin-key-0123456789abcdef"
FORM = "application/x-www-form-urlencoded"
"""What ``curl -d`` sends without ``-H 'Content-Type: …'``."""


@pytest.fixture
def keyed(apps: Apps) -> TestClient:
    api = apps(admin_key=ADMIN)
    api.headers["Authorization"] = f"Bearer {ADMIN}"
    return api


def _study(api: TestClient, name: str) -> str:
    created = api.post("/v1/studies", json=definition(name))
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


@pytest.mark.parametrize("content_type", [FORM, "text/plain", None])
def test_extend_and_keys_read_a_json_object_whatever_its_content_type(
    keyed: TestClient, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    study_id = _study(keyed, "by-curl")
    extended = keyed.post(
        f"/v1/studies/{study_id}/extend", content='{"n_trials_total": 6}', headers=headers
    )
    assert extended.status_code == 200, extended.text
    assert extended.json()["study"]["progress"]["n_trials"] == 6
    created = keyed.post("/v1/keys", content='{"tenant": "team-curl"}', headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["tenant"] == "team-curl"


def test_extend_and_keys_read_yaml_under_a_yaml_content_type(keyed: TestClient) -> None:
    yaml_type = {"Content-Type": "application/yaml"}
    study_id = _study(keyed, "by-yaml")
    extended = keyed.post(
        f"/v1/studies/{study_id}/extend", content="n_trials: 2\n", headers=yaml_type
    )
    assert extended.status_code == 200, extended.text
    assert extended.json()["study"]["progress"]["n_trials"] == 6
    created = keyed.post("/v1/keys", content="tenant: team-yaml\n", headers=yaml_type)
    assert created.status_code == 201, created.text


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b'{"n": ', "the body is not valid JSON: Expecting value: line 1 column 7 (char 6)"),
        (b"[1, 2]", "must be a mapping (a JSON object)"),
        (b'{"n": "\xff"}', "the body is not UTF-8 text: byte 0xff at line 1, column 8"),
        (b"  ", "the body is empty; send "),
    ],
    ids=["not JSON", "a list", "not UTF-8", "empty"],
)
def test_a_body_that_cannot_be_read_is_the_same_400_on_every_route(
    keyed: TestClient, body: bytes, said: str
) -> None:
    study_id = _study(keyed, "refused")
    for path in ("/v1/studies", f"/v1/studies/{study_id}/extend", "/v1/keys"):
        for content_type in ("application/json", FORM):
            answer = keyed.post(path, content=body, headers={"Content-Type": content_type})
            assert answer.status_code == 400, (path, content_type, answer.text)
            error = answer.json()["error"]
            assert error["code"] == "unparseable_body", (path, error)
            assert said in error["message"], (path, content_type, error)
            assert [f["path"] for f in error["fields"]] == ["body"], error


def test_a_field_that_breaks_its_rule_is_still_a_422_naming_it(keyed: TestClient) -> None:
    study_id = _study(keyed, "ruled")
    bodies = [
        (f"/v1/studies/{study_id}/extend", '{"n_trials": 0}', "n_trials"),
        (f"/v1/studies/{study_id}/extend", '{"trials": 1}', "trials"),
        ("/v1/keys", '{"tenant": "-bad"}', "tenant"),
    ]
    for path, body, field in bodies:
        answer = keyed.post(path, content=body, headers={"Content-Type": FORM})
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["code"] == "invalid_request"
        assert [f["path"] for f in error["fields"]] == [field], error


def test_the_schema_still_describes_the_bodies_extend_and_keys_read(keyed: TestClient) -> None:
    """Each body as a named component, as when FastAPI read them itself: a generated client
    names their types (``StudyExtension``, ``KeyCreate``)."""
    document = keyed.get("/openapi.json").json()
    for path, name, fields in (
        ("/v1/studies/{study_id}/extend", "StudyExtension", {"n_trials", "timeout_s"}),
        ("/v1/keys", "KeyCreate", {"tenant"}),
    ):
        operation = document["paths"][path]["post"]
        body = operation["requestBody"]
        assert body["required"] is True
        schema = body["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{name}"}
        schema = document["components"]["schemas"][name]
        assert fields <= set(schema["properties"]) and schema["additionalProperties"] is False
        assert "422" in operation["responses"]


DUPLICATED = [
    (
        "/v1/studies",
        '{"name": "twice", "dataset": {"builtin": "diabetes"}, "model": {"kind": "linear"}, '
        '"budget": {"n_trials": 3}, "budget": {"n_trials": 1}}',
        "'budget' is given twice at line 1, column 111",
    ),
    (
        "/v1/studies",
        '{"name": "deep", "dataset": {"builtin": "diabetes"},\n "model": {"kind": "linear"},\n'
        ' "search_space": {"lambda": {"low": 0.001, "high": 1, "low": 0.01}}}',
        "'low' is given twice at line 3, column 55",
    ),
    ("{extend}", '{"n_trials_total": 13, "n_trials_total": 12}', "'n_trials_total' is given twice"),
    (
        "{extend}",
        '{"points_to_evaluate": [{"lambda": 0.1}, {"lambda": 0.2, "lambda": 0.3}]}',
        "'lambda' is given twice at line 1, column 58",
    ),
    ("/v1/keys", '{"tenant": "team-a", "tenant": "team-q"}', "'tenant' is given twice"),
]


@pytest.mark.parametrize("content_type", ["application/json", FORM])
@pytest.mark.parametrize(("path", "body", "said"), DUPLICATED)
def test_a_json_key_given_twice_is_a_400_that_says_which_and_where_as_in_yaml(
    keyed: TestClient, path: str, body: str, said: str, content_type: str
) -> None:
    """As the same text sent as YAML is refused (was: 201 or 200, the last one winning: a
    study of 1 trial, a budget of 12, a key for team-q)."""
    study_id = _study(keyed, "to-extend")
    url = path.format(extend=f"/v1/studies/{study_id}/extend")
    answer = keyed.post(url, content=body, headers={"Content-Type": content_type})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "unparseable_body", error
    assert error["message"].startswith("the body is not valid JSON: "), error
    assert said in error["message"], error
    as_yaml = keyed.post(url, content=body, headers={"Content-Type": "application/yaml"})
    assert as_yaml.status_code == 400, as_yaml.text
    assert said in as_yaml.json()["error"]["message"], as_yaml.json()
    assert [k["tenant"] for k in keyed.get("/v1/keys").json()] == []
    assert keyed.get(f"/v1/studies/{study_id}").json()["progress"]["n_trials"] == 4
