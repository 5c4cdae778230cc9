"""Every status ``/openapi.json`` declares for an operation is one it answers, and it answers no
other: each declared status is provoked by a real request (the table below) and the answer is
checked against the schema as ``test_rest_contract`` checks the others. A status declared that
no request can provoke fails here (was: a 400 and a 409 declared on every study read, a 404 on
``POST /v1/studies``: dead branches in a generated client), and so does one answered but not
declared (was: the 413 of a body over the limit sent to an operation that takes none, ``GET``
or ``DELETE``; the 500 of a fault, answered as text by Starlette outside any operation's
declaration).

Fast and in-process: one app with keys on and small body limits, a worker thread runs one study;
a second app whose database is away answers the 503s, a third whose database is corrupt the 500s.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from regtune.service.api.schemas.errors import ERROR_CODES
from regtune.service.store.scheduling.claims import finishing, taking
from tests.inprocess import Apps, run_to_the_end
from tests.service.test_database_unavailable import app_on
from tests.service.test_rest_contract import OPERATIONS, conforms, definition, rows_csv
from tests.support import free_port, garble_schema

ADMIN = "statuses-admin-key-0123456789abcdef"
LIMIT = 4000
"""The app's body and upload limits: a definition or a test's CSV fits, ``TOO_BIG`` does not."""
TOO_BIG = b"x" * (LIMIT + 1)
LONG = "x" * 70
"""An id longer than any (ids are at most 64 characters): a 422 naming the path parameter."""
JSON = {"content-type": "application/json"}
Y = {"target": "y"}
WITHOUT_KEY = {"healthz", "readyz"}
WITHOUT_DATABASE = {"healthz"}
WITHOUT_FAULT = {"healthz", "readyz"}
"""Operations whose declared 500 no request can provoke: ``/healthz`` answers from the process
alone and ``/readyz`` answers every database fault with its own 503, so only a fault of the
process itself (a bug, memory running out) makes them answer it; declared all the same, as
every operation's (``contract.document``)."""


@dataclass(frozen=True)
class Case:
    """A request and the status it must get. ``path`` and header values name the ids of the
    world below as ``{done}``, ``{queued}``...; ``key``: who calls (admin, team or none)."""

    operation: str
    status: int
    path: str
    key: str = "admin"
    headers: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)


def case(operation: str, status: int, path: str, key: str = "admin", **options: Any) -> Case:
    headers = options.pop("headers", {})
    return Case(operation, status, path, key, headers, options)


def rows_for(copies: int) -> bytes:
    """A CSV of its own for each ``copies``: the contract test's rows, that many times."""
    return rows_csv() + rows_csv().split(b"\n", 1)[1] * (copies - 1)


READS = [
    case("healthz", 200, "/healthz", key="none"),
    case("readyz", 200, "/readyz", key="none"),
    case("list_studies", 200, "/v1/studies?status=completed"),
    case("list_studies", 403, "/v1/studies?tenant=team-b", key="team"),
    case("list_studies", 422, "/v1/studies?limit=0"),
    case("list_studies", 422, "/v1/studies?tenant=../x"),
    case("get_study", 200, "/v1/studies/{done}"),
    case("get_study", 404, "/v1/studies/nope"),
    case("get_study", 422, "/v1/studies/{done}?wait=100"),
    case("list_trials", 200, "/v1/studies/{done}/trials?state=complete"),
    case("list_trials", 404, "/v1/studies/nope/trials"),
    case("list_trials", 422, "/v1/studies/{done}/trials?offset=-1"),
    case("get_trial", 200, "/v1/studies/{done}/trials/0"),
    case("get_trial", 404, "/v1/studies/{done}/trials/999"),
    case("get_trial", 422, "/v1/studies/{done}/trials/x"),
    case("download_best_model", 200, "/v1/studies/{done}/best-model"),
    case(
        "download_best_model",
        304,
        "/v1/studies/{done}/best-model",
        headers={"If-None-Match": "{etag}"},
    ),
    case("download_best_model", 404, "/v1/studies/{queued}/best-model"),
    case("download_best_model", 422, f"/v1/studies/{LONG}/best-model"),
    case("study_report", 200, "/v1/studies/{done}/report"),
    case("study_report", 404, "/v1/studies/nope/report"),
    case("study_report", 422, f"/v1/studies/{LONG}/report"),
    case("list_workers", 200, "/v1/workers"),
    case("metrics", 200, "/metrics"),
    case("metrics", 403, "/metrics", key="team"),
    case("list_datasets", 200, "/v1/datasets"),
    case("list_datasets", 422, "/v1/datasets?limit=0"),
    case("get_dataset", 200, "/v1/datasets/{spare}"),
    case("get_dataset", 404, "/v1/datasets/nope"),
    case("get_dataset", 422, f"/v1/datasets/{LONG}"),
    case("list_keys", 200, "/v1/keys"),
    case("list_keys", 403, "/v1/keys", key="team"),
    case("list_keys", 422, "/v1/keys?tenant=-bad"),
    case("get_key", 200, "/v1/keys/{key}"),
    case("get_key", 403, "/v1/keys/{key}", key="team"),
    case("get_key", 404, "/v1/keys/nope"),
    case("get_key", 422, f"/v1/keys/{LONG}"),
]
WRITES = [
    case("create_study", 201, "/v1/studies", json=definition("fresh")),
    case("create_study", 400, "/v1/studies", content=b"{", headers=JSON),
    case("create_study", 409, "/v1/studies", json=definition("done")),
    case("create_study", 413, "/v1/studies", content=TOO_BIG, headers=JSON),
    case("create_study", 422, "/v1/studies", json={**definition("bad"), "budget": {"n_trials": 0}}),
    case("upload_dataset", 201, "/v1/datasets", files={"file": ("new.csv", rows_for(3))}, data=Y),
    case("upload_dataset", 200, "/v1/datasets", files={"file": ("old.csv", rows_for(2))}, data=Y),
    case(
        "upload_dataset",
        400,
        "/v1/datasets",
        content=b"not multipart",
        headers={"content-type": "multipart/form-data; boundary=b"},
    ),
    case("upload_dataset", 413, "/v1/datasets", files={"file": ("big.csv", TOO_BIG)}, data=Y),
    case("upload_dataset", 422, "/v1/datasets", files={"target": (None, "y")}),  # no file
    case("upload_dataset", 400, "/v1/datasets", data=Y),  # no multipart form
    case("create_key", 201, "/v1/keys", json={"tenant": "team-c"}),
    case("create_key", 400, "/v1/keys", content=b'{"tenant": ', headers=JSON),
    case("create_key", 403, "/v1/keys", key="team", json={"tenant": "team-c"}),
    case("create_key", 413, "/v1/keys", content=TOO_BIG, headers=JSON),
    case("create_key", 422, "/v1/keys", json={"tenant": "-bad"}),
    case("cancel_study", 200, "/v1/studies/{queued}/cancel"),
    case("cancel_study", 404, "/v1/studies/nope/cancel"),
    case("cancel_study", 409, "/v1/studies/{done}/cancel"),
    case("cancel_study", 422, f"/v1/studies/{LONG}/cancel"),
    case("extend_study", 200, "/v1/studies/{queued}/extend", json={"n_trials": 1}),
    case("extend_study", 400, "/v1/studies/{queued}/extend", content=b"{", headers=JSON),
    case("extend_study", 404, "/v1/studies/nope/extend", json={"n_trials": 1}),
    case("extend_study", 409, "/v1/studies/{failed}/extend", json={"n_trials": 1}),
    case("extend_study", 422, "/v1/studies/{queued}/extend", json={"n_trials": 0}),
    case("delete_study", 204, "/v1/studies/{queued}"),
    case("delete_study", 404, "/v1/studies/nope"),
    case("delete_study", 409, "/v1/studies/{busy}"),
    case("delete_study", 422, f"/v1/studies/{LONG}"),
    case("delete_dataset", 204, "/v1/datasets/{spare}"),
    case("delete_dataset", 404, "/v1/datasets/nope"),
    case("delete_dataset", 409, "/v1/datasets/{used}"),
    case("delete_dataset", 422, f"/v1/datasets/{LONG}"),
    case("revoke_key", 403, "/v1/keys/{key}", key="team"),
    case("revoke_key", 404, "/v1/keys/nope"),
    case("revoke_key", 422, f"/v1/keys/{LONG}"),
    case("revoke_key", 204, "/v1/keys/{key}"),
]
"""In this order: a study is cancelled before it is deleted, the team's key revoked last."""
WITHOUT_A_KEY = [
    case(op, 401, "", key="none") for op in OPERATIONS.values() if op not in WITHOUT_KEY
]
"""``path`` left empty: the operation's own, its parameters filled in (``access.Authenticate``
answers before a route looks at them)."""
DATABASE_AWAY = [case(op, 503, "") for op in OPERATIONS.values() if op not in WITHOUT_DATABASE]
TOO_LARGE = [case(op, 413, "", content=TOO_BIG) for op in OPERATIONS.values()]
"""A body over the limit, to every operation: ``limits.BodyLimit`` refuses it before any route,
whatever the method, so an operation that takes no body declares the 413 too."""
BODIES: dict[str, dict[str, Any]] = {
    "create_study": {"json": definition("faulty")},
    "upload_dataset": {"files": {"file": ("f.csv", rows_csv())}, "data": Y},
    "create_key": {"json": {"tenant": "team-f"}},
    "extend_study": {"json": {"n_trials": 1}},
}
"""What the operations that take a body need to reach the database."""
DATABASE_CORRUPT = [
    case(op, 500, "", **BODIES.get(op, {})) for op in OPERATIONS.values() if op not in WITHOUT_FAULT
]


def test_each_declared_status_is_provoked_by_a_case_and_no_other(api: TestClient) -> None:
    schema = api.get("/openapi.json").json()
    declared = {
        (operation["operationId"], int(status))
        for operations in schema["paths"].values()
        for operation in operations.values()
        for status in operation["responses"]
    }
    cases = READS + WRITES + WITHOUT_A_KEY + TOO_LARGE + DATABASE_AWAY + DATABASE_CORRUPT
    provoked = {(c.operation, c.status) for c in cases}
    unprovoked = {(op, 500) for op in WITHOUT_FAULT}
    assert unprovoked <= declared, "every operation declares the 500 of a fault"
    assert sorted(declared - provoked - unprovoked) == [], "declared, but no case provokes it"
    assert sorted(provoked - declared) == [], "provoked, but not declared"


@pytest.fixture
def world(apps: Apps) -> tuple[TestClient, dict[str, str]]:
    """The keyed app and the ids the cases name: a completed study with its best model (done),
    a queued one (queued), a failed one (failed), one with a trial slot taken (busy) on an
    uploaded dataset (used), another dataset (spare), a team's key (key)."""
    api = apps(admin_key=ADMIN, max_body_bytes=LIMIT, max_upload_bytes=LIMIT, grace_period=600)
    api.headers["Authorization"] = f"Bearer {ADMIN}"
    done = api.post("/v1/studies", json=definition("done")).json()["id"]
    assert run_to_the_end(api, done)["status"] == "completed"
    ids = {"done": done, "queued": _create(api, definition("queued"))}
    ids["used"] = _upload(api, rows_csv())
    ids["spare"] = _upload(api, rows_for(2))
    on_upload = {**definition("busy"), "dataset": {"id": ids["used"]}, "validation": {"folds": 2}}
    ids["busy"] = _create(api, on_upload)
    assert taking.claim_slots(worker_id="statuses", slots=1, study_id=ids["busy"])
    ids["failed"] = _failed(api)
    team = api.post("/v1/keys", json={"tenant": "team-a"}).json()
    ids["key"], ids["team"] = team["id"], team["key"]
    ids["etag"] = api.get(f"/v1/studies/{done}/best-model").headers["etag"]
    return api, ids


def _failed(api: TestClient) -> str:
    """A study that failed: its one trial slot finished with an error, past ``max_retries: 0``."""
    body = {**definition("failed"), "budget": {"n_trials": 2, "max_retries": 0}}
    study_id = _create(api, body)
    (claim,) = taking.claim_slots(worker_id="statuses", slots=1, study_id=study_id)
    finishing.finish(
        claim_id=claim.id, study_id=study_id, seq=claim.seq, error="the trainer diverged"
    )
    assert api.get(f"/v1/studies/{study_id}").json()["status"] == "failed"
    return study_id


def _create(api: TestClient, body: dict[str, Any]) -> str:
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _upload(api: TestClient, raw: bytes) -> str:
    uploaded = api.post("/v1/datasets", files={"file": ("d.csv", raw)}, data={"target": "y"})
    assert uploaded.status_code == 201, uploaded.text
    return str(uploaded.json()["id"])


def _template(operation: str) -> tuple[str, str]:
    """The method and path template of an operation, by its id."""
    return next((m, p) for (m, p), name in OPERATIONS.items() if name == operation)


def ask(api: TestClient, c: Case, ids: dict[str, str]) -> httpx.Response:
    method, template = _template(c.operation)
    path = c.path.format(**ids) if c.path else re.sub(r"\{\w+\}", "0", template)
    keys = {"admin": f"Bearer {ADMIN}", "team": f"Bearer {ids.get('team', '')}", "none": ""}
    headers = {k: v.format(**ids) for k, v in c.headers.items()}
    headers["Authorization"] = keys[c.key]
    return api.request(method.upper(), path, headers=headers, **c.options)


def check(api: TestClient, cases: list[Case], ids: dict[str, str]) -> list[str]:
    """Each case's answer: its status, and the answer as the schema declares it."""
    schema = api.get("/openapi.json").json()
    wrong = []
    for c in cases:
        answer = ask(api, c, ids)
        if answer.status_code != c.status:
            wrong.append(f"{c}: got {answer.status_code} {answer.text[:200]}")
            continue
        try:
            conforms(schema, _template(c.operation)[1], answer)
        except AssertionError as exc:
            wrong.append(f"{c}: {exc}")
        code = answer.json().get("error", {}).get("code") if answer.status_code >= 400 else None
        if code is not None and code not in ERROR_CODES:
            wrong.append(f"{c}: error.code {code} is not among ErrorBody.code's")
    return wrong


def test_each_case_answers_its_status_as_the_schema_declares_it(
    world: tuple[TestClient, dict[str, str]],
) -> None:
    api, ids = world
    assert check(api, READS + WITHOUT_A_KEY + TOO_LARGE + WRITES, ids) == []


@pytest.fixture
def down(tmp_path: Path) -> Iterator[TestClient]:
    yield from app_on(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/regtune", tmp_path)


def test_every_operation_answers_the_declared_503_while_the_database_is_away(
    down: TestClient,
) -> None:
    assert check(down, DATABASE_AWAY, {}) == []


@pytest.fixture
def corrupt(apps: Apps) -> TestClient:
    """The keyed app on a SQLite file whose schema is garbled: a fault no retry mends (not the
    503 of a database that is away)."""
    api = apps(admin_key=ADMIN)
    garble_schema(Apps.database_path(api))
    return TestClient(api.app, raise_server_exceptions=False)


def test_every_operation_answers_the_declared_500_of_a_corrupt_database(
    corrupt: TestClient,
) -> None:
    """In the one error shape, ``internal_error`` (was: Starlette's text ``Internal Server
    Error``, declared nowhere)."""
    assert check(corrupt, DATABASE_CORRUPT, {}) == []
    error = ask(corrupt, DATABASE_CORRUPT[0], {}).json()["error"]
    assert error["message"].startswith("the service failed (DatabaseError)"), error


@pytest.mark.parametrize(
    ("path", "body", "content_type", "said"),
    [
        ("/v1/keys", b'{"tenant": ', "application/json", "the body is not valid JSON: "),
        ("/v1/keys", b'{"tenant": "\xff"}', "application/json", "the body is not UTF-8 text"),
        ("/v1/datasets", b"a,b\n", "multipart/form-data; boundary=b", "Invalid multipart data"),
        ("/v1/studies", b"{", "application/json", "the body is not valid JSON: "),
    ],
)
def test_a_body_that_cannot_be_parsed_is_a_400_naming_the_body(
    apps: Apps, path: str, body: bytes, content_type: str, said: str
) -> None:
    """As ``POST /v1/studies`` answers it (was, for ``POST /v1/keys``: a 422 whose field was the
    character's offset, ``1: JSON decode error``; for a multipart body, no field at all). Sent
    with the admin key: ``POST /v1/keys`` refuses any other caller before it reads the body."""
    api = apps(admin_key=ADMIN)
    headers = {"content-type": content_type, "Authorization": f"Bearer {ADMIN}"}
    answer = api.post(path, content=body, headers=headers)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "unparseable_body", error
    assert [f["path"] for f in error["fields"]] == ["body"], error
    assert said in error["message"], error
