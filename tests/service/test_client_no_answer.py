"""A request sent whose answer never came (the client's timeout ran out, the connection broke
off) is not "cannot reach the API": the server may have done it. It was reported so, and a
user who ran ``regtune extend ID --trials 1`` again grew the budget twice. The client raises
``ApiDidNotAnswer`` (an ``ApiUnreachable``, so existing handlers still catch it) saying so, and
each CLI command that changes something says what may have happened and how to tell, as its
Ctrl-C does; REGTUNE_TIMEOUT sets how long to wait."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from regtune.service.cli import output
from regtune.service.cli.app import app
from regtune.service.client.errors import ApiDidNotAnswer, ApiUnreachable
from regtune.service.client.http import Client
from tests.service.test_client_optuna import STUDY

Handler = Callable[[httpx.Request], httpx.Response]


def answered_then_lost(api: TestClient) -> Handler:
    """The in-process API does each request; its answer is lost (a timeout while reading it)."""

    def handle(request: httpx.Request) -> httpx.Response:
        kept = {k: v for k, v in request.headers.items() if k in ("content-type", "authorization")}
        api.request(
            request.method, request.url.raw_path.decode(), content=request.read(), headers=kept
        )
        raise httpx.ReadTimeout("timed out", request=request)

    return handle


def never_connects(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


def budget(api: TestClient, study_id: str) -> int:
    n_trials: int = api.get(f"/v1/studies/{study_id}").json()["progress"]["n_trials"]
    return n_trials


def test_a_lost_answer_is_no_unreachable_api(api: TestClient) -> None:
    study_id = api.post("/v1/studies", json=STUDY).json()["id"]
    lost = httpx.MockTransport(answered_then_lost(api))
    with Client("http://regtune.test", transport=lost, timeout=0.5) as rt:
        with pytest.raises(ApiDidNotAnswer) as raised:
            rt.extend(study_id, 1)
        assert budget(api, study_id) == 4  # it was done
        assert isinstance(raised.value, ApiUnreachable) and raised.value.changes
        assert str(raised.value) == (
            "the regtune API at http://regtune.test did not answer within 0.5 s (POST "
            f"/v1/studies/{study_id}/extend): it was sent, so it may or may not have taken "
            "effect; timeout sets how many seconds to wait"
        )
        with pytest.raises(ApiDidNotAnswer) as read:
            rt.study(study_id)
        assert not read.value.changes and "may or may not" not in str(read.value)

    refused = httpx.MockTransport(never_connects)
    rt = Client("http://regtune.test", transport=refused)
    with rt, pytest.raises(ApiUnreachable) as unreachable:
        rt.extend(study_id, 1)
    assert not isinstance(unreachable.value, ApiDidNotAnswer)
    assert str(unreachable.value).startswith("cannot reach the regtune API at http://regtune.test")


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose listener takes connections (the kernel's backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def test_a_timeout_on_a_real_connection_says_how_long_it_waited(
    silent_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGTUNE_TIMEOUT", "0.2")
    with Client(f"http://127.0.0.1:{silent_port}") as rt, pytest.raises(ApiDidNotAnswer) as raised:
        rt.cancel("0123456789abcdef")
    assert str(raised.value).startswith(
        f"the regtune API at http://127.0.0.1:{silent_port} did not answer within 0.2 s (POST "
        "/v1/studies/0123456789abcdef/cancel): it was sent, so it may or may not have taken effect"
    )
    assert str(raised.value).endswith("; REGTUNE_TIMEOUT sets how many seconds to wait")


def run(monkeypatch: pytest.MonkeyPatch, handle: Handler, *args: str) -> Result:
    """``regtune ARGS`` with its requests handled by ``handle``, its output one line."""

    def client(url: str | None, *, key: str | None = None, **_: Any) -> Client:
        return Client(url, key=key, transport=httpx.MockTransport(handle))

    monkeypatch.setattr(output, "Client", client)
    return CliRunner().invoke(app, [*args, "--url", "http://regtune.test"])


def said(result: Result) -> str:
    return " ".join(result.output.split())


@pytest.mark.parametrize(
    ("command", "unanswered"),
    [
        (
            ["extend", "{id}", "--trials", "1"],
            "study {id} may or may not be extended; regtune show {id} says its budget (regtune "
            "extend {id} --to N can be repeated safely)",
        ),
        (
            ["cancel", "{id}"],
            "study {id} may or may not be cancelled; regtune show {id} says its status",
        ),
        (
            ["rm", "{id}"],
            "study {id} may or may not be deleted; regtune show {id} answers 404 once it is",
        ),
    ],
)
def test_a_command_whose_answer_was_lost_says_what_may_have_happened(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, command: list[str], unanswered: str
) -> None:
    study_id = api.post("/v1/studies", json=STUDY).json()["id"]
    args = [arg.format(id=study_id) for arg in command]
    monkeypatch.setenv("REGTUNE_TIMEOUT", "7")
    result = run(monkeypatch, answered_then_lost(api), *args)
    assert result.exit_code == 1, result.output
    assert said(result) == (
        "error: the regtune API at http://regtune.test did not answer within 7 s, so "
        f"{unanswered.format(id=study_id)}; REGTUNE_TIMEOUT sets how many seconds to wait"
    )


def test_a_command_that_could_not_connect_still_says_so(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run(monkeypatch, never_connects, "extend", "0123456789abcdef", "--trials", "1")
    assert result.exit_code == 1, result.output
    assert said(result).startswith("error: cannot reach the regtune API at http://regtune.test")
    assert "may or may not" not in said(result)


@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan", "inf"])
def test_a_timeout_setting_that_is_no_number_of_seconds_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("REGTUNE_TIMEOUT", value)
    result = run(monkeypatch, never_connects, "ls")
    assert result.exit_code == 2, result.output
    assert said(result) == (
        f"error: REGTUNE_TIMEOUT: must be a number of seconds above 0, got {value!r}"
    )


def test_a_submission_whose_answer_was_lost_says_how_to_find_the_study(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """As Ctrl-C before the answer says: the study may or may not exist, and ``regtune ls
    --name`` tells (was the generic "may or may not have taken effect")."""
    definition = tmp_path / "study.json"
    definition.write_text(json.dumps(STUDY | {"name": "lost-answer"}))
    monkeypatch.setenv("REGTUNE_TIMEOUT", "7")
    result = run(monkeypatch, answered_then_lost(api), "submit", str(definition))
    assert result.exit_code == 1, result.output
    assert (
        "so study 'lost-answer' may or may not exist; regtune ls --name lost-answer lists it"
        in (said(result))
    )
    assert api.get("/v1/studies", params={"name": "lost-answer"}).json()["total"] == 1
