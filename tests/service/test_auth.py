"""API keys and tenants, on every route of the API (in-process) after a worker (in-process too)
ran a study.

Tenant B's key on tenant A's objects gets 404 on every endpoint, and A's objects are unchanged;
no key is 401; a revoked key is 401 within ``KEY_CACHE_SECONDS`` (in every API process; see
test_api_processes); secrets never reach the logs.
"""

from __future__ import annotations

import contextvars
import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from regtune.service import logs
from regtune.service.store.repos.keys import KEY_CACHE_SECONDS
from tests.inprocess import Apps, cli_output, copy_database
from tests.support import Processes, process_env, regtune, wait_for

ADMIN = "auth-admin-key-0123456789abcdef"
PUBLIC = {"/healthz", "/readyz"}
STUDY = {
    "name": "a-private-study",
    "model": {"kind": "linear"},
    "search_space": {"lambda": {"low": 1e-4, "high": 1e-1, "log": True}, "l1_ratio": 0.5},
    "training": {"max_epochs": 3, "batch_size": 32},
    "pruner": {"type": "none"},
    "budget": {"n_trials": 1, "max_parallel": 1},
}


def csv_bytes() -> bytes:
    rows = "".join(f"{i % 7},{(i * 13) % 5},{i % 7 * 2 + (i * 13) % 5}\n" for i in range(60))
    return ("a,b,y\n" + rows).encode()


class Tenants:
    def __init__(self, app: TestClient, keys: dict[str, dict[str, Any]]) -> None:
        self.app = app
        self.admin = self.client(ADMIN)
        self.keys = keys
        self.a = self.client(self.keys["alpha"]["key"])
        self.b = self.client(self.keys["beta"]["key"])

    def client(self, key: str | None) -> TestClient:
        """Another client of the same app (its lifespan is the first client's)."""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return TestClient(self.app.app, headers=headers)


@pytest.fixture(scope="module")
def settled_world(
    tmp_path_factory: pytest.TempPathFactory, migrated_db: Path
) -> Iterator[tuple[Path, dict[str, dict[str, Any]], dict[str, Any]]]:
    """Tenant alpha owns a dataset and a completed study with one trial and a best model, run
    by a worker in this process. Each test gets a copy of this database."""
    from regtune.worker.loop import Worker

    tmp = tmp_path_factory.mktemp("auth")
    apps = Apps(tmp, migrated_db)
    try:
        app = apps(admin_key=ADMIN)
        admin = TestClient(app.app, headers={"Authorization": f"Bearer {ADMIN}"})
        keys = {}
        for name in ("alpha", "beta"):
            created = admin.post("/v1/keys", json={"tenant": name})
            assert created.status_code == 201, created.text
            keys[name] = created.json()
        alpha = TestClient(app.app, headers={"Authorization": f"Bearer {keys['alpha']['key']}"})
        dataset = alpha.post(
            "/v1/datasets", files={"file": ("a.csv", csv_bytes())}, data={"target": "y"}
        ).json()
        study = alpha.post("/v1/studies", json={**STUDY, "dataset": {"id": dataset["id"]}})
        assert study.status_code == 201, study.text
        study_id = study.json()["id"]
        # in a context of its own: the worker's id stays out of this process's log lines
        assert contextvars.copy_context().run(Worker().run, max_trials=1) == 1
        settled = alpha.get(f"/v1/studies/{study_id}").json()
        assert settled["status"] == "completed" and settled["best_model"] is not None, settled
        path = Apps.database_path(app)
    finally:
        apps.close()
    saved = tmp / "settled.db"
    copy_database(path, saved)
    yield saved, keys, {"study_id": study_id, "dataset_id": dataset["id"], "number": 0}


@pytest.fixture
def world(
    apps: Apps, settled_world: tuple[Path, dict[str, dict[str, Any]], dict[str, Any]]
) -> tuple[Tenants, dict[str, Any]]:
    database, keys, objects = settled_world
    app = apps(database=database, admin_key=ADMIN, artifact_dir=database.parent / "artifacts")
    return Tenants(app, keys), objects


def operations(client: httpx.Client) -> list[tuple[str, str]]:
    schema = client.get("/openapi.json").json()
    return [(m.upper(), p) for p, ops in schema["paths"].items() for m in ops]


def fill(path: str, objects: dict[str, Any]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(objects[m.group(1)]), path)


def snapshot(tenants: Tenants, objects: dict[str, Any]) -> dict[str, Any]:
    a, sid = tenants.a, objects["study_id"]
    return {
        "study": a.get(f"/v1/studies/{sid}").json(),
        "trials": a.get(f"/v1/studies/{sid}/trials").json(),
        "dataset": a.get(f"/v1/datasets/{objects['dataset_id']}").json(),
    }


def test_another_tenant_gets_404_on_every_object_endpoint(
    world: tuple[Tenants, dict[str, Any]],
) -> None:
    tenants, objects = world
    before = snapshot(tenants, objects)
    checked = []
    for method, path in operations(tenants.a):
        if "{" not in path or path.startswith("/v1/keys"):
            continue
        url = fill(path, objects)
        if method == "GET":
            assert tenants.a.get(url).status_code == 200, f"alpha cannot {method} {url}"
        response = tenants.b.request(method, url)
        assert response.status_code == 404, f"{method} {path}: {response.status_code}"
        assert response.json()["error"]["code"] == "not_found"
        checked.append(f"{method} {path}")
    assert {
        "GET /v1/studies/{study_id}",
        "DELETE /v1/studies/{study_id}",
        "POST /v1/studies/{study_id}/cancel",
        "GET /v1/studies/{study_id}/trials",
        "GET /v1/studies/{study_id}/trials/{number}",
        "GET /v1/datasets/{dataset_id}",
        "DELETE /v1/datasets/{dataset_id}",
    } <= set(checked)
    assert snapshot(tenants, objects) == before


def test_another_tenant_sees_nothing_in_lists_and_cannot_use_the_dataset(
    world: tuple[Tenants, dict[str, Any]],
) -> None:
    tenants, objects = world
    assert tenants.b.get("/v1/studies").json()["total"] == 0
    assert tenants.b.get("/v1/datasets").json()["total"] == 0
    for worker in tenants.b.get("/v1/workers").json():
        assert worker["study_id"] is None
    borrowed = {**STUDY, "name": "borrowed", "dataset": {"id": objects["dataset_id"]}}
    response = tenants.b.post("/v1/studies", json=borrowed)
    assert response.status_code == 422
    assert [f["path"] for f in response.json()["error"]["fields"]] == ["dataset.id"]
    # the same name in another tenant is another study
    own = tenants.b.post(
        "/v1/studies", json={**STUDY, "dataset": {"builtin": "diabetes"}, "budget": {"n_trials": 1}}
    )
    assert own.status_code == 201, own.text
    assert tenants.b.post(f"/v1/studies/{own.json()['id']}/cancel").status_code == 200


def _unstamped(body: bytes) -> bytes:
    """The body without what differs between two renderings of a report: the time it says it
    was built at and its plots' element ids."""
    body = re.sub(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", b"", body)
    return re.sub(rb"regtune-plot-\d+", b"regtune-plot", body)


def test_the_admin_key_reads_lists_cancels_and_deletes_every_tenants_study(
    world: tuple[Tenants, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator's key reaches every tenant's studies (what tenant alpha gets, to the byte),
    lists them with their tenant, and cancels or deletes another tenant's; it creates studies in
    its own tenant, and another tenant's datasets stay that tenant's."""
    tenants, objects = world
    sid = objects["study_id"]
    read = 0
    for method, path in operations(tenants.a):
        if method != "GET" or "{study_id}" not in path:
            continue
        url = fill(path, objects)
        mine, admins = tenants.a.get(url), tenants.admin.get(url)
        assert admins.status_code == mine.status_code == 200, f"GET {path}: {admins.text}"
        assert _unstamped(admins.content) == _unstamped(mine.content), f"GET {path}"
        read += 1
    assert read >= 5
    assert tenants.admin.get(f"/v1/datasets/{objects['dataset_id']}").status_code == 404
    beta = tenants.b.post("/v1/studies", json={**STUDY, "dataset": {"builtin": "diabetes"}})
    assert beta.status_code == 201, beta.text
    bid = beta.json()["id"]
    assert beta.json()["tenant"] == "beta"

    every = tenants.admin.get("/v1/studies").json()
    assert {(s["id"], s["tenant"]) for s in every["items"]} == {(sid, "alpha"), (bid, "beta")}
    only = tenants.admin.get("/v1/studies", params={"tenant": "beta"}).json()
    assert [s["id"] for s in only["items"]] == [bid] and only["total"] == 1
    assert tenants.admin.get("/v1/studies", params={"tenant": "nobody"}).json()["total"] == 0
    assert tenants.b.get("/v1/studies", params={"tenant": "beta"}).json()["total"] == 1
    refused = tenants.b.get("/v1/studies", params={"tenant": "alpha"})
    assert refused.status_code == 403, refused.text
    assert "'alpha'" in refused.json()["error"]["message"]
    listed = cli_output(tenants.admin, monkeypatch, "ls")
    assert "tenant" in listed and "alpha" in listed and "beta" in listed
    assert "tenant" not in cli_output(tenants.b, monkeypatch, "ls")

    cancelled = tenants.admin.post(f"/v1/studies/{bid}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert tenants.b.get(f"/v1/studies/{bid}").json()["status"] == "cancelled"
    assert tenants.admin.delete(f"/v1/studies/{bid}").status_code == 204
    assert tenants.b.get(f"/v1/studies/{bid}").status_code == 404
    own = tenants.admin.post("/v1/studies", json={**STUDY, "dataset": {"builtin": "diabetes"}})
    assert own.status_code == 201 and own.json()["tenant"] == "default", own.text
    assert tenants.a.get(f"/v1/studies/{own.json()['id']}").status_code == 404


def test_two_keys_in_one_request_are_refused_whoever_sent_them(
    world: tuple[Tenants, dict[str, Any]],
) -> None:
    """Was: the first ``Authorization`` header was taken and the other ignored, so a request
    carrying alpha's and beta's keys read alpha's study."""
    tenants, objects = world
    both = [
        ("authorization", f"Bearer {tenants.keys['alpha']['key']}"),
        ("authorization", f"Bearer {tenants.keys['beta']['key']}"),
    ]
    url = f"{tenants.a.base_url}/v1/studies/{objects['study_id']}"
    refused = tenants.client(None).send(httpx.Request("GET", url, headers=both))
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["message"].startswith("send one Authorization header, got 2")
    assert tenants.keys["alpha"]["key"] not in refused.text
    assert tenants.a.get(f"/v1/studies/{objects['study_id']}").status_code == 200


def test_no_key_or_a_bad_key_is_401_everywhere_but_health(
    world: tuple[Tenants, dict[str, Any]],
) -> None:
    tenants, objects = world
    anonymous = tenants.client(None)
    wrong = tenants.client("rt_not-a-real-key-at-all-0000000000000")
    basic = tenants.client(None)
    basic.headers["Authorization"] = "Basic YWxpY2U6c2VjcmV0"
    for method, path in operations(tenants.a):
        url = fill(path, {**objects, "key_id": tenants.keys["alpha"]["id"]})
        if path in PUBLIC:
            assert anonymous.request(method, url).status_code in (200, 503)
            continue
        for client in (anonymous, wrong, basic):
            response = client.request(method, url)
            assert response.status_code == 401, f"{method} {path}: {response.status_code}"
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["error"]["code"] == "unauthorized"
    assert tenants.a.get(f"/v1/studies/{objects['study_id']}").status_code == 200


def test_only_the_admin_key_manages_keys(world: tuple[Tenants, dict[str, Any]]) -> None:
    tenants, _ = world
    assert tenants.a.post("/v1/keys", json={"tenant": "alpha"}).status_code == 403
    assert tenants.a.get("/v1/keys").status_code == 403
    assert tenants.a.delete(f"/v1/keys/{tenants.keys['beta']['id']}").status_code == 403
    listed = tenants.admin.get("/v1/keys").json()
    assert {k["tenant"] for k in listed} >= {"alpha", "beta"}
    assert all("key" not in k for k in listed)
    refused = tenants.admin.post("/v1/keys", json={"tenant": "bad name!"})
    assert refused.status_code == 422
    # the rule in words, as a definition's name says it (it was the regular expression)
    assert refused.json()["error"]["fields"] == [
        {
            "path": "tenant",
            "rule": "must be 1 to 64 ASCII letters (A-Z, a-z), digits, '.', '_' or '-', "
            "starting with a letter or digit, got 'bad name!'",
        }
    ]
    assert tenants.admin.delete("/v1/keys/nope").status_code == 404


def test_keys_ls_lists_the_ids_revoke_takes(
    world: tuple[Tenants, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``regtune keys ls`` (admin key): every key by id and tenant, never a secret."""
    tenants, _ = world
    listed = cli_output(tenants.admin, monkeypatch, "keys", "ls")
    for name in ("alpha", "beta"):
        assert tenants.keys[name]["id"] in listed and name in listed
        assert tenants.keys[name]["key"] not in listed
    assert "2 keys, 2 not revoked" in listed
    only = cli_output(tenants.admin, monkeypatch, "keys", "ls", "--tenant", "beta")
    assert tenants.keys["beta"]["id"] in only and tenants.keys["alpha"]["id"] not in only


def test_a_revoked_key_is_refused_within_the_cache_bound(
    world: tuple[Tenants, dict[str, Any]],
) -> None:
    tenants, _ = world
    created = tenants.admin.post("/v1/keys", json={"tenant": "gamma"}).json()
    gamma = tenants.client(created["key"])
    assert gamma.get("/v1/studies").status_code == 200
    assert tenants.admin.delete(f"/v1/keys/{created['id']}").status_code == 204
    wait_for(
        lambda: gamma.get("/v1/studies").status_code == 401,
        timeout=KEY_CACHE_SECONDS + 30,
        what="the revoked key to be refused",
    )
    assert tenants.admin.delete(f"/v1/keys/{created['id']}").status_code == 204  # idempotent


@pytest.fixture
def api_log() -> Iterator[io.StringIO]:
    """The API's log lines as ``regtune api`` writes them (JSON), for one test."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    logs.setup(fmt="json", level="INFO", stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        logging.captureWarnings(False)


def test_secrets_never_reach_the_logs(
    world: tuple[Tenants, dict[str, Any]], api_log: io.StringIO
) -> None:
    tenants, _ = world
    tenants.client("rt_a-wrong-secret-that-must-not-be-logged").get("/v1/studies")
    tenants.a.get("/v1/studies")
    tenants.admin.get("/v1/keys")
    written = api_log.getvalue()
    assert "GET /v1/studies" in written  # the log is there, and it is the right one
    for secret in [ADMIN, "rt_a-wrong-secret-that-must-not-be-logged"] + [
        k["key"] for k in tenants.keys.values()
    ]:
        assert secret not in written


def test_cors_is_off_unless_configured(world: tuple[Tenants, dict[str, Any]]) -> None:
    tenants, _ = world
    response = tenants.a.get("/v1/studies", headers={"Origin": "http://127.0.0.1:9999"})
    assert "access-control-allow-origin" not in response.headers


def test_cors_allows_only_the_configured_origins(apps: Apps) -> None:
    api = apps(cors_origins=["http://127.0.0.1:3000", "http://localhost:3000"])
    preflight = {
        "Origin": "http://127.0.0.1:3000",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    allowed = api.options("/v1/studies", headers=preflight)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://127.0.0.1:3000"
    other = {**preflight, "Origin": "http://127.0.0.1:4000"}
    refused = api.options("/v1/studies", headers=other)
    assert "access-control-allow-origin" not in refused.headers


def test_cors_lets_a_page_send_and_read_every_header_the_schema_declares(apps: Apps) -> None:
    """Was: ``Cache-Control: no-cache`` (a study's wait) and ``If-None-Match`` (the best model)
    failed the preflight, and a page could read no header but ``Location``: not an outage's
    ``Retry-After``, not the best model's ``ETag`` or file name."""
    api = apps(cors_origins=["http://127.0.0.1:3000"])
    schema = api.get("/openapi.json").json()
    operations = [op for ops in schema["paths"].values() for op in ops.values()]
    sent = {
        p["name"].lower()
        for op in operations
        for p in op.get("parameters", [])
        if p["in"] == "header"
    }
    answered = {
        name.lower()
        for op in operations
        for response in op["responses"].values()
        for name in response.get("headers", {})
    }
    assert {"cache-control", "if-none-match"} <= sent
    assert {"location", "retry-after", "etag", "x-regtune-trial"} <= answered
    preflight = api.options(
        "/v1/studies/x/best-model",
        headers={
            "Origin": "http://127.0.0.1:3000",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": ",".join(sorted(sent | {"authorization"})),
        },
    )
    assert preflight.status_code == 200, preflight.text
    read = api.get("/v1/studies", headers={"Origin": "http://127.0.0.1:3000"})
    exposed = {h.strip().lower() for h in read.headers["access-control-expose-headers"].split(",")}
    assert answered <= exposed, answered - exposed


def test_without_keys_loopback_is_open_and_key_management_is_off(api: TestClient) -> None:
    assert api.get("/v1/studies").status_code == 200
    response = api.post("/v1/keys", json={"tenant": "alpha"})
    assert response.status_code == 403
    assert "REGTUNE_ADMIN_KEY" in response.json()["error"]["message"]


@pytest.mark.parametrize("command", ["api", "serve"])
def test_refuses_a_non_loopback_address_without_keys(
    command: str, sqlite_url: str, processes: Processes
) -> None:
    result = processes.run(
        regtune(command, "--host", "0.0.0.0", "--port", "9"), env=process_env(sqlite_url)
    )
    assert result.returncode == 2, result.stderr
    assert "refusing to listen on 0.0.0.0 without API keys" in " ".join(result.stderr.split())


def test_keys_stored_without_the_admin_key_keep_keys_on_and_the_api_says_so(
    apps: Apps, processes: Processes
) -> None:
    """Keys made under an admin key keep the tenants' data theirs when the API starts again
    without it, but then nobody reads /metrics (401, and 403 with a tenant's key), and the
    startup log said nothing of it."""
    admin = apps(admin_key=ADMIN)
    url = f"sqlite:///{Apps.database_path(admin)}"
    warning = "so API keys are on: every request needs a key"

    before = processes.stack(url).start_api()  # no key stored yet: open on loopback, silently
    assert httpx.get(f"{before.url}/metrics").status_code == 200
    before.stop()
    assert before.api is not None and warning not in before.api.log()

    made = admin.post(
        "/v1/keys", json={"tenant": "acme"}, headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert made.status_code == 201, made.text
    after = processes.stack(url).start_api()
    assert httpx.get(f"{after.url}/metrics").status_code == 401  # the keys still guard the data
    acme = {"Authorization": f"Bearer {made.json()['key']}"}
    assert httpx.get(f"{after.url}/metrics", headers=acme).status_code == 403
    assert httpx.get(f"{after.url}/v1/studies", headers=acme).status_code == 200
    after.stop()
    assert after.api is not None
    [line] = [line for line in after.api.log().splitlines() if warning in line]
    assert '"level": "WARNING"' in line, line
    assert (
        "1 tenant key exists in the database, so API keys are on: every request needs a key, "
        "and the pool-wide views (/metrics, every worker in /v1/workers) and managing keys need "
        "REGTUNE_ADMIN_KEY, which is not set" in line
    ), line
