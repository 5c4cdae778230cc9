"""The API as its own ``/openapi.json`` says, checked on real answers of a study run to the end:
every status a route answers is declared for it, with the body's media type and schema (was:
``best-model`` and ``report`` declared FastAPI's ``{"detail": [...]}`` for their 422 while they
answer ``{"error": ...}``; ``GET /v1/studies?tenant=`` answered an undeclared 403; no route
declared the 503 of a database that is away, nor ``Location`` or ``Retry-After``), the headers
the API sets are declared, and the operation ids are the route names a generated client takes
(was: ``create_study_v1_studies_post``). A 405 names the methods the path allows (was: an empty
``Allow``), and the best model downloads as ``application/octet-stream`` to a client that asks
for that type (clients generated from the schema know no other binary type), files marked
``format: binary`` as generators know them.

Fast and in-process: the app under ``TestClient``, a worker thread runs the study.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

from tests.inprocess import Apps, run_to_the_end
from tests.service.test_database_unavailable import app_on
from tests.support import free_port

ADMIN = "contract-admin-key-0123456789abcdef"
OPERATIONS = {
    ("get", "/healthz"): "healthz",
    ("get", "/readyz"): "readyz",
    ("post", "/v1/studies"): "create_study",
    ("get", "/v1/studies"): "list_studies",
    ("get", "/v1/studies/{study_id}"): "get_study",
    ("delete", "/v1/studies/{study_id}"): "delete_study",
    ("get", "/v1/studies/{study_id}/trials"): "list_trials",
    ("get", "/v1/studies/{study_id}/trials/{number}"): "get_trial",
    ("post", "/v1/studies/{study_id}/cancel"): "cancel_study",
    ("post", "/v1/studies/{study_id}/extend"): "extend_study",
    ("get", "/v1/studies/{study_id}/best-model"): "download_best_model",
    ("get", "/v1/studies/{study_id}/report"): "study_report",
    ("get", "/v1/workers"): "list_workers",
    ("get", "/metrics"): "metrics",
    ("post", "/v1/datasets"): "upload_dataset",
    ("get", "/v1/datasets"): "list_datasets",
    ("get", "/v1/datasets/{dataset_id}"): "get_dataset",
    ("delete", "/v1/datasets/{dataset_id}"): "delete_dataset",
    ("post", "/v1/keys"): "create_key",
    ("get", "/v1/keys"): "list_keys",
    ("get", "/v1/keys/{key_id}"): "get_key",
    ("delete", "/v1/keys/{key_id}"): "revoke_key",
}
OPERATIONS_BY_PATH = [(path, method) for method, path in OPERATIONS]
JSON_BODY = {"content-type": "application/json"}
SET_HEADERS = (
    "location",
    "retry-after",
    "etag",
    "content-disposition",
    "x-regtune-trial",
    "www-authenticate",
)
"""Headers the API sets that a client acts on: each must be declared where it is sent (was
not, for every 401's ``WWW-Authenticate``)."""


def conforms(schema: dict[str, Any], template: str, response: httpx.Response) -> None:
    """``response`` (to the operation at ``template``) is one its operation declares."""
    method = response.request.method.lower()
    where = f"{method.upper()} {response.request.url.path} ({response.status_code})"
    declared = schema["paths"][template][method]["responses"].get(str(response.status_code))
    assert declared is not None, f"{where}: status not declared; {response.text[:300]}"
    headers = {name.lower() for name in declared.get("headers", {})}
    for name in SET_HEADERS:
        if name in response.headers:
            assert name in headers, f"{where}: header {name} sent but not declared"
    for name in headers:
        assert name in response.headers, f"{where}: declared header {name} not sent"
    content = declared.get("content", {})
    if not content:
        assert response.content == b"", f"{where}: a body where none is declared"
        return
    media = response.headers["content-type"].split(";")[0]
    assert media in content, f"{where}: {media} is not among {sorted(content)}"
    body_schema = content[media].get("schema")
    if media == "application/json":
        assert body_schema is not None, f"{where}: JSON without a schema"
        validator = Draft202012Validator({**body_schema, "components": schema["components"]})
        errors = [
            f"{list(e.absolute_path)}: {e.message[:200]}"
            for e in validator.iter_errors(response.json())
        ]
        assert not errors, f"{where}: {errors[:5]}"


def definition(name: str, n_trials: int = 4) -> dict[str, Any]:
    return {
        "name": name,
        "dataset": {"builtin": "diabetes"},
        "model": {"kind": "linear"},
        "search_space": {"lambda": {"low": 1e-4, "high": 1.0, "log": True}, "l1_ratio": 0.5},
        "training": {"lambda_path": None},
        "validation": {"holdout": 0.2},
        "sampler": {"type": "random", "seed": 0},
        "budget": {"n_trials": n_trials},
    }


def rows_csv() -> bytes:
    lines = "".join(f"{i % 7},{['oslo', 'bergen'][i % 2]},{i * 0.5 + i % 7}\n" for i in range(40))
    return ("x,city,y\n" + lines).encode()


def test_the_operation_ids_are_the_route_names(api: TestClient) -> None:
    schema = api.get("/openapi.json").json()
    found = {
        (method, path): operation["operationId"]
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    }
    assert found == OPERATIONS
    assert "HTTPValidationError" not in schema["components"]["schemas"]


def test_files_are_marked_binary_as_generators_know_them(api: TestClient) -> None:
    """openapi-python-client sent an upload's file as its ``str()`` (the API: "file: Expected
    UploadFile") and parsed the best model's 200 as nothing, for lack of ``format: binary``."""
    schema = api.get("/openapi.json").json()
    upload = schema["paths"]["/v1/datasets"]["post"]["requestBody"]["content"]
    form = upload["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert schema["components"]["schemas"][form]["properties"]["file"]["format"] == "binary"
    model = schema["paths"]["/v1/studies/{study_id}/best-model"]["get"]["responses"]["200"]
    assert model["content"]["application/octet-stream"]["schema"] == {
        "type": "string",
        "format": "binary",
    }


def answer_components(schema: dict[str, Any]) -> set[str]:
    """Components an answer's body uses, but the definition's own (``StudySpec``: the body
    ``POST /v1/studies`` takes, whose defaulted fields a definition may leave out)."""
    found: set[str] = set()
    todo = [json.dumps(schema["paths"][p][m]["responses"]) for p, m in OPERATIONS_BY_PATH]
    while todo:
        for name in re.findall(r"#/components/schemas/([\w.-]+)", todo.pop()):
            if name not in found and name != "StudySpec":
                found.add(name)
                todo.append(json.dumps(schema["components"]["schemas"][name]))
    return found


def test_every_field_of_an_answer_is_required_as_it_is_always_sent(api: TestClient) -> None:
    """Answers carry every field, null or not: a field the schema leaves optional is one a
    generated client must treat as possibly absent (was: report_url, warnings, best_model of a
    study, learning_curve of a trial, fields of an error, and 22 more)."""
    schema = api.get("/openapi.json").json()
    optional = {
        f"{name}.{field}"
        for name in answer_components(schema)
        for field in schema["components"]["schemas"][name].get("properties", {})
        if field not in schema["components"]["schemas"][name].get("required", [])
    }
    assert sorted(optional) == []


def test_every_answer_of_a_study_s_life_is_declared_and_matches_its_schema(
    api: TestClient,
) -> None:
    schema = api.get("/openapi.json").json()
    answers: list[tuple[str, httpx.Response]] = []

    def call(template: str, method: str, url: str, **options: Any) -> httpx.Response:
        response = api.request(method, url, **options)
        answers.append((template, response))
        return response

    studies, study = "/v1/studies", "/v1/studies/{study_id}"
    created = call(studies, "POST", "/v1/studies", json=definition("contract"))
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    assert run_to_the_end(api, sid)["status"] == "completed"
    queued = call(studies, "POST", "/v1/studies", json=definition("queued", 50)).json()["id"]

    call(studies, "POST", "/v1/studies", json=definition("contract"))  # 409: the name is taken
    call(studies, "POST", "/v1/studies", content=b"{", headers={"content-type": "application/json"})
    call(studies, "POST", "/v1/studies", json={**definition("bad"), "budget": {"n_trials": 0}})
    for query in ("", "?status=completed", "?status=bogus", "?limit=0"):
        call(studies, "GET", f"/v1/studies{query}")
    for path in (f"/v1/studies/{sid}", "/v1/studies/nope", f"/v1/studies/{sid}?wait=100"):
        call(study, "GET", path)
    for query in ("", "?state=complete", "?state=bogus", "?offset=-1"):
        call(study + "/trials", "GET", f"/v1/studies/{sid}/trials{query}")
    for number in ("0", "999", "x"):
        call(study + "/trials/{number}", "GET", f"/v1/studies/{sid}/trials/{number}")
    best = study + "/best-model"
    model = call(best, "GET", f"/v1/studies/{sid}/best-model")
    octets = call(
        best, "GET", f"/v1/studies/{sid}/best-model", headers={"accept": "application/octet-stream"}
    )
    assert model.headers["content-type"] == "application/vnd.regtune.model+safetensors"
    assert octets.headers["content-type"] == "application/octet-stream"
    assert octets.content == model.content and len(model.content) > 100
    etag = model.headers["etag"]
    held = call(best, "GET", f"/v1/studies/{sid}/best-model", headers={"if-none-match": etag})
    assert held.status_code == 304 and held.content == b"" and held.headers["etag"] == etag
    weak = {"if-none-match": f'"other", W/{etag}'}
    assert call(best, "GET", f"/v1/studies/{sid}/best-model", headers=weak).status_code == 304
    stale = {"if-none-match": '"an-older-model"'}
    again = call(best, "GET", f"/v1/studies/{sid}/best-model", headers=stale)
    assert again.status_code == 200 and again.content == model.content
    for other in (queued, "nope", "x" * 70):
        call(best, "GET", f"/v1/studies/{other}/best-model")
    call(study + "/report", "GET", f"/v1/studies/{sid}/report")
    call(study + "/report", "GET", f"/v1/studies/{'x' * 70}/report")
    call(study + "/cancel", "POST", f"/v1/studies/{sid}/cancel")  # 409: completed
    call(study + "/cancel", "POST", f"/v1/studies/{queued}/cancel")
    extend = study + "/extend"
    for body in ({"n_trials": 0}, {"trials": 1}):
        call(extend, "POST", f"/v1/studies/{queued}/extend", json=body)  # 422
    call(extend, "POST", "/v1/studies/nope/extend", json={"n_trials": 1})
    call(extend, "POST", f"/v1/studies/{queued}/extend", content=b"{", headers=JSON_BODY)  # 400
    reopened = call(extend, "POST", f"/v1/studies/{queued}/extend", json={"n_trials": 2})
    assert reopened.status_code == 200 and reopened.json()["reopened"], reopened.text
    call(study + "/cancel", "POST", f"/v1/studies/{queued}/cancel")
    call(study, "DELETE", f"/v1/studies/{queued}")
    call(study, "DELETE", "/v1/studies/nope")
    call("/v1/workers", "GET", "/v1/workers")
    call("/metrics", "GET", "/metrics")
    call("/healthz", "GET", "/healthz")
    call("/readyz", "GET", "/readyz")

    datasets, dataset = "/v1/datasets", "/v1/datasets/{dataset_id}"
    upload = {"files": {"file": ("d.csv", rows_csv())}, "data": {"target": "y"}}
    uploaded = call(datasets, "POST", "/v1/datasets", **upload)
    assert uploaded.status_code == 201, uploaded.text
    assert call(datasets, "POST", "/v1/datasets", **upload).status_code == 200
    call(datasets, "POST", "/v1/datasets", data={"target": "y"})  # 422: no file
    call(
        datasets,
        "POST",
        "/v1/datasets",
        files={"file": ("d.csv", b"x,y\n1,2\n")},
        data=upload["data"],
    )
    call(datasets, "GET", "/v1/datasets")
    for path in (f"/v1/datasets/{uploaded.json()['id']}", "/v1/datasets/nope"):
        call(dataset, "GET", path)
    call(dataset, "DELETE", f"/v1/datasets/{uploaded.json()['id']}")

    statuses = set()
    for template, response in answers:
        conforms(schema, template, response)
        statuses.add(response.status_code)
    assert statuses >= {200, 201, 204, 400, 404, 409, 422}, statuses


def test_keys_and_tenants_answer_as_declared(apps: Apps) -> None:
    api = apps(admin_key=ADMIN)
    schema = api.get("/openapi.json").json()
    admin = {"Authorization": f"Bearer {ADMIN}"}
    answers = []
    created = api.post("/v1/keys", json={"tenant": "team-a"}, headers=admin)
    answers.append(("/v1/keys", created))
    team = {"Authorization": f"Bearer {created.json()['key']}"}
    located = api.get(created.headers["location"], headers=admin)
    answers += [
        ("/v1/keys", api.post("/v1/keys", json={"tenant": "-bad"}, headers=admin)),
        ("/v1/keys", api.get("/v1/keys", headers=admin)),
        ("/v1/keys", api.get("/v1/keys", headers=team)),
        ("/v1/studies", api.get("/v1/studies?tenant=team-b", headers=team)),
        ("/v1/studies", api.get("/v1/studies")),
        ("/metrics", api.get("/metrics", headers=team)),
        ("/v1/keys/{key_id}", located),
        ("/v1/keys/{key_id}", api.get(created.headers["location"], headers=team)),
        ("/v1/keys/{key_id}", api.get("/v1/keys/nope", headers=admin)),
        ("/v1/keys/{key_id}", api.delete("/v1/keys/nope", headers=admin)),
        ("/v1/keys/{key_id}", api.delete(f"/v1/keys/{created.json()['id']}", headers=admin)),
    ]
    for template, response in answers:
        conforms(schema, template, response)
    assert {r.status_code for _, r in answers} >= {200, 201, 204, 401, 403, 404, 422}
    refused = answers[4][1].json()["error"]  # a tenant's key asking for another tenant
    assert refused["fields"][0]["path"] == "tenant", refused


def test_the_location_of_a_new_key_is_the_key_as_the_list_gives_it(apps: Apps) -> None:
    """Was a 405 "it allows DELETE": ``POST /v1/keys`` named a path no GET served."""
    api = apps(admin_key=ADMIN)
    api.headers["Authorization"] = f"Bearer {ADMIN}"
    created = api.post("/v1/keys", json={"tenant": "team-a"})
    assert created.status_code == 201, created.text
    key_id = created.json()["id"]
    assert created.headers["location"] == f"/v1/keys/{key_id}"
    (listed,) = api.get("/v1/keys").json()
    located = api.get(created.headers["location"])
    assert located.status_code == 200, located.text
    assert located.json() == listed and "key" not in located.json()
    assert api.delete(f"/v1/keys/{key_id}").status_code == 204
    assert api.get(f"/v1/keys/{key_id}").json()["revoked_at"] is not None
    unknown = api.get("/v1/keys/0123456789abcdef")
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["error"]["message"] == "no API key with id '0123456789abcdef'"


@pytest.fixture
def down(tmp_path: Path) -> Iterator[TestClient]:
    yield from app_on(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/regtune", tmp_path)


def test_a_database_that_is_away_answers_the_declared_503(down: TestClient) -> None:
    schema = down.get("/openapi.json").json()
    for template, path in (("/v1/studies", "/v1/studies"), ("/v1/datasets", "/v1/datasets")):
        response = down.get(path)
        assert response.status_code == 503, response.text
        conforms(schema, template, response)


def test_a_method_the_path_does_not_serve_names_those_it_does(api: TestClient) -> None:
    for method, path, allowed in (
        ("PUT", "/v1/studies", "GET, HEAD, POST"),
        ("PATCH", "/v1/studies/abc", "DELETE, GET, HEAD"),
        ("POST", "/v1/studies/abc/trials", "GET, HEAD"),
    ):
        response = api.request(method, path)
        assert response.status_code == 405
        assert response.headers["allow"] == allowed
        assert response.json()["error"]["message"] == (
            f"method {method} is not allowed on {path}; it allows {allowed}"
        )


def test_a_taken_name_and_a_body_too_large_name_their_field(apps: Apps) -> None:
    api = apps(max_body_bytes=2000)
    assert api.post("/v1/studies", json=definition("once")).status_code == 201
    taken = api.post("/v1/studies", json=definition("once"))
    assert taken.status_code == 409
    assert [f["path"] for f in taken.json()["error"]["fields"]] == ["name"]
    big = json.dumps({**definition("big"), "note": "x" * 3000}).encode()
    refused = api.post("/v1/studies", content=big, headers={"content-type": "application/json"})
    assert refused.status_code == 413, refused.text
    fields = refused.json()["error"]["fields"]
    assert [f["path"] for f in fields] == ["body"], fields
    assert "REGTUNE_MAX_BODY_BYTES" in fields[0]["rule"]
