"""``regtune submit --watch`` (or ``watch``) of a study where no worker runs: the study stays
queued for ever, and the watch repeated ``0/30 · queued`` without a word of why (``regtune
workers`` said ``0 live workers``). While the study is queued with no trial done, the watch
looks at the live workers now and then and says, once, that none is running and what starts
one; and again when that changes."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from regtune.service.api.schemas.studies import StudyOut
from regtune.service.cli import output
from regtune.service.cli.app import app
from regtune.service.client.http import Client
from regtune.service.client.pool import WORKERS_EVERY, NoWorker
from tests.inprocess import Apps
from tests.service.test_client_optuna import STUDY

NONE_RUNNING = (
    "no regtune worker is running, so study {id} stays queued: regtune worker starts one (on "
    "the API's database, REGTUNE_DATABASE_URL), or regtune serve runs the API and workers "
    "together"
)
WORKER = {
    "id": "w1",
    "host": "here",
    "pid": 1,
    "started_at": "2026-01-01T00:00:00Z",
    "last_heartbeat": "2026-01-01T00:00:05Z",
    "study_id": None,
    "trial_number": None,
    "activity": "idle",
}


def test_watching_a_queued_study_with_no_worker_says_so_once(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watch goes on until the study ends (cancelled here, once the workers were looked
    at, or after the fifth answer of the study): the line is said once, on stderr, and the
    study is not changed by it."""
    study_id = api.post("/v1/studies", json=STUDY).json()["id"]
    looked: list[int] = []
    answers = itertools.count(1)

    def forward(request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode()
        answer = api.request(request.method, path)
        if request.url.path == "/v1/workers":
            looked.append(len(answer.json()))
            assert api.get(f"/v1/studies/{study_id}").json()["status"] == "queued"
        if request.url.path == "/v1/workers" or next(answers) == 5:
            api.post(f"/v1/studies/{study_id}/cancel")  # what ends this watch
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    def client(url: str | None, *, key: str | None = None, **_: Any) -> Client:
        return Client(url, key=key, transport=httpx.MockTransport(forward))

    monkeypatch.setattr(output, "Client", client)
    args = ["watch", study_id, "--poll", "0.1", "--url", "http://regtune.test"]
    result = CliRunner().invoke(app, args)
    said = " ".join(result.stderr.split())
    assert result.exit_code == 2, result.output  # cancelled
    assert looked == [0]
    assert said == "warning: " + NONE_RUNNING.format(id=study_id), said


def seen(status: str, done: int) -> StudyOut:
    return StudyOut.model_validate(
        {
            "id": "0" * 16,
            "name": "waiting",
            "tenant": "default",
            "status": status,
            "optuna_study_name": "waiting",
            "definition": {},
            "counts": {},
            "progress": {"done": done, "n_trials": 3, "running": 0, "fraction": done / 3},
            "best_trial": None,
            "error": None,
            "created_at": "2026-01-01T00:00:00Z",
            "started_at": None,
            "finished_at": None,
        }
    )


def scripted(
    pools: Iterator[list[dict[str, Any]]], asked: list[str], *, scope: str | None = "pool"
) -> httpx.MockTransport:
    """An API whose workers listing answers the next of ``pools``, saying whose they are by
    ``scope`` (``X-Regtune-Workers``; None: an API that does not say); ``asked`` records each
    path asked."""

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        headers = {"X-Regtune-Workers": scope} if scope is not None else {}
        return httpx.Response(200, json=next(pools), headers=headers)

    return httpx.MockTransport(answer)


def test_the_workers_are_looked_at_every_few_seconds_while_queued_and_a_change_is_said() -> None:
    asked: list[str] = []
    said: list[str] = []
    now = [0.0]
    pools = iter([[], [], [WORKER], [], []])
    with Client("http://regtune.test", transport=scripted(pools, asked)) as client:
        check = NoWorker(client, said.append, clock=lambda: now[0])
        queued = seen("queued", 0)
        check(queued)  # none: said
        check(queued)  # too soon to look again
        now[0] += WORKERS_EVERY
        check(queued)  # still none: nothing more
        check(seen("running", 0))  # running: not looked at
        check(seen("queued", 1))  # a trial done (an extended study): not looked at
        now[0] += WORKERS_EVERY
        check(queued)  # one runs now: said
        now[0] += WORKERS_EVERY
        check(queued)  # none again: said again
    assert asked == ["/v1/workers"] * 4
    none = NONE_RUNNING.format(id=queued.id)
    assert said == [
        none,
        f"1 regtune worker is running now: study {queued.id} starts when one takes it",
        none,
    ]


@pytest.mark.parametrize(
    ("scope", "key", "heard"),
    [
        ("tenant", "a-key", 0),  # a tenant's key: its own workers only
        ("pool", "a-key", 1),  # the admin key, or a key an API without keys ignores
        ("pool", None, 1),
        (None, "a-key", 0),  # an API that does not say: a key may be a tenant's
        (None, None, 1),
    ],
)
def test_it_is_said_only_where_the_listing_is_the_whole_pool(
    scope: str | None, key: str | None, heard: int
) -> None:
    """A tenant's key lists only the workers running its own trials: an empty listing says
    nothing of the pool, so nothing is said. The first version asked GET /v1/keys whether the
    key was the admin's, which an API without keys refuses to any key (403), so a user with
    REGTUNE_KEY set never heard it from a local open server."""
    asked: list[str] = []
    said: list[str] = []
    pools: Iterator[list[dict[str, Any]]] = itertools.repeat([])
    transport = scripted(pools, asked, scope=scope)
    with Client("http://regtune.test", key=key, transport=transport) as client:
        check = NoWorker(client, said.append, every=0.0)
        check(seen("queued", 0))
        check(seen("queued", 0))
    assert len(said) == heard
    assert asked == ["/v1/workers"] * 2


def test_the_api_says_whose_workers_it_lists(apps: Apps) -> None:
    """Without keys, every worker (the pool); with keys, the admin key's listing is the pool's
    and a tenant's key's its own."""
    admin = "workers-admin-key-0123456789abcdef"
    assert apps().get("/v1/workers").headers["X-Regtune-Workers"] == "pool"
    api = apps(admin_key=admin)
    bearer = {"Authorization": f"Bearer {admin}"}
    assert api.get("/v1/workers", headers=bearer).headers["X-Regtune-Workers"] == "pool"
    made = api.post("/v1/keys", json={"tenant": "t"}, headers=bearer).json()["key"]
    tenant = {"Authorization": f"Bearer {made}"}
    assert api.get("/v1/workers", headers=tenant).headers["X-Regtune-Workers"] == "tenant"
