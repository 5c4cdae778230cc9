"""``regtune watch`` (and ``submit --watch``, ``Client.wait``) of a study whose API goes away:
it exited 1 at once, "cannot reach the regtune API", the status of a failed study, without a word
of the study going on. It asks again with backoff, says once that the API is away and once that
it is back; an API that stays away ends the watch with the Ctrl-C line and its own status,
``API_AWAY`` (75)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from regtune.service.cli import output
from regtune.service.cli.app import app
from regtune.service.cli.watching import API_AWAY
from regtune.service.client import waiting
from regtune.service.client.errors import ApiUnreachable
from regtune.service.client.http import Client
from tests.service.test_client_optuna import STUDY

Handler = Callable[[httpx.Request], httpx.Response]


def forward(api: TestClient, request: httpx.Request) -> httpx.Response:
    answer = api.request(request.method, request.url.raw_path.decode(), content=request.read())
    return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)


def away_then_back(api: TestClient, study_id: str) -> Handler:
    """The API answers the first request; then it is away (refused connections, a 503 of its
    database), and once back the study has been cancelled meanwhile."""
    asked = itertools.count(1)
    unavailable = {"error": {"code": "database_unavailable", "message": "away", "fields": []}}

    def handle(request: httpx.Request) -> httpx.Response:
        match next(asked):
            case 1:
                return forward(api, request)
            case 2:
                raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
            case 3:
                return httpx.Response(503, json=unavailable, headers={"Retry-After": "1"})
            case _:
                api.post(f"/v1/studies/{study_id}/cancel")
                return forward(api, request)

    return handle


def gone_after_first(api: TestClient) -> Handler:
    asked = itertools.count(1)

    def handle(request: httpx.Request) -> httpx.Response:
        if next(asked) == 1:
            return forward(api, request)
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    return handle


def test_the_clients_wait_rides_out_an_api_that_is_away_for_a_while(api: TestClient) -> None:
    study_id = api.post("/v1/studies", json=STUDY).json()["id"]
    said: list[str] = []
    transport = httpx.MockTransport(away_then_back(api, study_id))
    with Client("http://regtune.test", transport=transport) as rt:
        rt.study(study_id)
        ended = rt.wait(study_id, poll=0.1, on_outage=said.append)
    assert ended.status == "cancelled"
    assert said == [
        "cannot reach the regtune API at http://regtune.test (ConnectError: [Errno 111] "
        "Connection refused); asking again for up to 300 s (the study keeps running on the "
        "server)",
        "the regtune API at http://regtune.test answers again",
    ]


def test_the_clients_wait_gives_up_on_an_api_that_stays_away(api: TestClient) -> None:
    study_id = api.post("/v1/studies", json=STUDY).json()["id"]
    said: list[str] = []
    transport = httpx.MockTransport(gone_after_first(api))
    with Client("http://regtune.test", transport=transport) as rt:
        rt.study(study_id)
        with pytest.raises(ApiUnreachable, match="cannot reach the regtune API"):
            rt.wait(study_id, poll=0.1, patience=0.5, on_outage=said.append)
    assert len(said) == 1 and said[0].endswith(
        "asking again for up to 0.5 s (the study keeps running on the server)"
    )


def test_the_clients_wait_keeps_to_its_timeout_through_an_outage(api: TestClient) -> None:
    """``wait(timeout=0.5)`` asked an API that was away again for the whole ``patience`` (300 s
    by default), past its own timeout: it now asks for what is left of the timeout."""
    study_id = api.post("/v1/studies", json=STUDY).json()["id"]
    said: list[str] = []
    transport = httpx.MockTransport(gone_after_first(api))
    with Client("http://regtune.test", transport=transport) as rt:
        rt.study(study_id)
        with pytest.raises(ApiUnreachable):
            rt.wait(study_id, timeout=0.5, poll=0.1, patience=60, on_outage=said.append)
    (away,) = said
    asked_for = float(re.search(r"asking again for up to ([0-9.e-]+) s", away).group(1))  # type: ignore[union-attr]
    assert asked_for <= 0.5, away


def watched(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, handle: Handler, study_id: str
) -> Result:
    def client(url: str | None, *, key: str | None = None, **_: Any) -> Client:
        return Client(url, key=key, transport=httpx.MockTransport(handle))

    monkeypatch.setattr(output, "Client", client)
    return CliRunner().invoke(
        app, ["watch", study_id, "--poll", "0.1", "--url", "http://regtune.test"]
    )


def test_watch_goes_on_once_the_api_is_back(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    study_id = api.post("/v1/studies", json=STUDY).json()["id"]
    result = watched(api, monkeypatch, away_then_back(api, study_id), study_id)
    said = " ".join(result.output.split())
    assert result.exit_code == 2, said  # cancelled, as the study ended
    assert said.count("warning: cannot reach the regtune API") == 1, said
    assert "asking again for up to 300 s (the study keeps running on the server)" in said
    assert "warning: the regtune API at http://regtune.test answers again" in said


def test_watch_of_an_api_that_stays_away_ends_with_its_own_status(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(waiting, "OUTAGE_PATIENCE", 0.5)
    study_id = api.post("/v1/studies", json=STUDY).json()["id"]
    result = watched(api, monkeypatch, gone_after_first(api), study_id)
    said = " ".join(result.output.split())
    assert result.exit_code == API_AWAY == 75, said
    assert said.count("warning: cannot reach the regtune API") == 1, said
    assert "error: cannot reach the regtune API at http://regtune.test" in said
    assert (
        f"stopped watching: study {study_id} (notebook) keeps running on the server; regtune "
        f"watch {study_id} follows it again, regtune cancel {study_id} stops it"
    ) in said
    assert api.get(f"/v1/studies/{study_id}").json()["status"] == "queued"
