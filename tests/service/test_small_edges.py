"""The small edges of issue 22, item 11: HEAD answers as GET does (was 405 with an empty
``Allow``); a second ``regtune serve`` on a busy port exits at once, before any worker takes
work; a hand-back is logged without a traceback; a key for tenant ``default`` comes with a
warning."""

from __future__ import annotations

import logging
import socket

import optuna
import pytest
from fastapi.testclient import TestClient

from regtune.service.cli import serve as serve_cli
from regtune.service.settings import Settings, use_settings
from regtune.service.store.optuna_db.internals.handles import OPTUNA_TRIAL_LOGGER
from regtune.worker.loop import Worker
from regtune.worker.stops import HandBack
from tests.inprocess import Apps, reset_process_state
from tests.support import free_port

ADMIN = "edges-admin-key-0123456789abcdef"


@pytest.fixture
def client(apps: Apps) -> TestClient:
    return apps(admin_key=ADMIN)


def test_head_answers_as_get_without_a_body(client: TestClient) -> None:
    auth = {"Authorization": f"Bearer {ADMIN}"}
    for path in ("/healthz", "/v1/studies", "/openapi.json"):
        got = client.get(path, headers=auth)
        head = client.head(path, headers=auth)
        assert head.status_code == got.status_code == 200, (path, head.status_code)
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
    missing = client.head("/v1/studies/nope", headers=auth)
    assert missing.status_code == 404


def test_a_key_for_the_default_tenant_comes_with_a_warning(client: TestClient) -> None:
    auth = {"Authorization": f"Bearer {ADMIN}"}
    default = client.post("/v1/keys", json={"tenant": "default"}, headers=auth)
    assert default.status_code == 201, default.text
    assert "every study and dataset made before keys" in default.json()["warning"]
    team = client.post("/v1/keys", json={"tenant": "team-a"}, headers=auth)
    assert team.status_code == 201 and team.json()["warning"] is None


def test_serve_on_a_busy_port_exits_at_once_before_any_child_starts(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_settings(Settings(database_url=sqlite_url))
    started: list[str] = []
    monkeypatch.setattr(serve_cli.Child, "start", lambda child: started.append(child.name))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = serve_cli.serve(
            host="127.0.0.1", port=port, workers=2, dashboard=False, dashboard_port=0
        )
    use_settings(None)
    reset_process_state()
    assert code != 0
    assert started == []
    err = capsys.readouterr().err
    assert f"cannot listen for the API on 127.0.0.1:{port}" in err
    assert "another regtune serve" in err


def test_serve_with_the_dashboard_on_the_api_port_exits_at_once(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both ports free, each checked alone: the dashboard took the port, the banner announced
    an API that never started, and the API child failed 5 times before serve exited 1."""
    use_settings(Settings(database_url=sqlite_url))
    started: list[str] = []
    monkeypatch.setattr(serve_cli.Child, "start", lambda child: started.append(child.name))
    port = free_port()
    code = serve_cli.serve(
        host="127.0.0.1", port=port, workers=0, dashboard=True, dashboard_port=port
    )
    use_settings(None)
    reset_process_state()
    assert (code, started) == (2, [])
    assert capsys.readouterr().err == (
        f"regtune serve: --dashboard-port {port} is the API's --port too; give them different "
        "ports\n"
    )


def test_a_hand_back_is_logged_without_a_traceback(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    Worker(Settings(database_url=sqlite_url))  # installs the filter, as every worker does
    optuna_logger = logging.getLogger("optuna")
    propagated, optuna_logger.propagate = optuna_logger.propagate, True
    try:
        study = optuna.create_study()

        def stopping(_: optuna.Trial) -> float:
            raise HandBack("the worker is stopping")

        with (
            caplog.at_level(logging.WARNING, logger=OPTUNA_TRIAL_LOGGER),
            pytest.raises(HandBack),
        ):
            study.optimize(stopping, n_trials=1)
    finally:
        optuna_logger.propagate = propagated
    lines = [r for r in caplog.records if r.name == OPTUNA_TRIAL_LOGGER]
    assert any("the worker is stopping" in r.getMessage() for r in lines)
    assert all(r.exc_info is None for r in lines)
    assert "Traceback" not in caplog.text
