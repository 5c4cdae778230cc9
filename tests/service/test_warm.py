"""What an API process does before it serves: it reads ahead, rehearses the reads clients
repeat (as the admin when keys are on), and its siblings of ``regtune api --workers N`` start
serving together."""

from __future__ import annotations

import asyncio
import copy
import logging
from pathlib import Path

import optuna
import pytest
from fastapi.testclient import TestClient
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from regtune.service.api import multiprocess, render, warm
from regtune.service.spec.definition import EXAMPLE
from regtune.service.store.repos import studies
from regtune.service.store.scheduling.retries import get_storage
from tests.inprocess import Apps
from tests.service.optuna_studies import add_trials
from tests.support import Processes

ADMIN = "admin-secret-for-warm-up"


def _study_with_trials(api: TestClient, n: int = 60) -> str:
    created = api.post("/v1/studies", json={**copy.deepcopy(EXAMPLE), "name": "warm"})
    assert created.status_code == 201, created.text
    study = optuna.load_study(study_name=created.json()["optuna_study_name"], storage=get_storage())
    add_trials(
        study,
        [
            create_trial(
                state=TrialState.COMPLETE,
                value=1.0 / (i + 1),
                params={"lambda": 10.0 ** -(i % 5)},
                distributions={"lambda": FloatDistribution(1e-5, 10, log=True)},
            )
            for i in range(n)
        ],
    )
    return str(created.json()["id"])


@pytest.mark.parametrize("keys", [False, True], ids=["open", "admin key"])
def test_the_rehearsal_reads_the_latest_study_on_every_route(apps: Apps, keys: bool) -> None:
    api = apps(admin_key=ADMIN) if keys else apps()
    if keys:
        api.headers["Authorization"] = f"Bearer {ADMIN}"
    study_id = _study_with_trials(api)
    latest = warm.read_ahead()
    assert latest is not None and latest.id == study_id
    statuses = asyncio.run(warm.rehearse(api.app, latest))  # type: ignore[arg-type]
    assert set(statuses) == set(warm.rehearsal_paths(latest))
    assert any(study_id in path and "trials?" in path for path in statuses)
    assert set(statuses.values()) == {200}, statuses


@pytest.mark.parametrize("warm_up", [True, False])
def test_an_app_warms_up_before_it_serves_unless_told_not_to(
    apps: Apps, warm_up: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """``warm_up`` (the default): every route prepared and the studies read before the first
    request; off: neither, and each route is prepared on its first use as FastAPI does."""
    with caplog.at_level(logging.INFO, logger="regtune.service.api.warm"):
        api = apps(warm_up=warm_up)
    read = [r.getMessage() for r in caplog.records if r.getMessage().startswith("read 0 studies")]
    assert len(read) == (1 if warm_up else 0), read
    assert api.get("/v1/studies").status_code == 200


def test_reading_ahead_renders_each_finished_trial_once(apps: Apps) -> None:
    api = apps()
    study_id = _study_with_trials(api, n=1200)  # two reads of AHEAD_PAGE
    render._TRIALS.clear()
    assert warm.read_ahead() is not None
    assert sum(1 for study, _ in render._TRIALS if study == study_id) == 1200


def test_rendering_ahead_stops_before_it_would_push_out_what_is_kept(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = apps()
    study_id = _study_with_trials(api, n=30)
    row = studies.get_row(study_id)
    monkeypatch.setattr(render, "TRIAL_BODY_BYTES", render.TRIAL_BODIES_BYTES)
    render._TRIALS.clear()
    assert render.render_ahead(row, deadline=float("inf")) == 0 and not render._TRIALS


def test_without_studies_the_rehearsal_lists_them(apps: Apps) -> None:
    api = apps()
    assert warm.read_ahead() is None
    statuses = asyncio.run(warm.rehearse(api.app, None))  # type: ignore[arg-type]
    assert statuses and set(statuses.values()) == {200}
    assert all(path.startswith("/v1/studies") and "/" not in path[12:] for path in statuses)


def test_a_process_waits_for_its_siblings_then_marks_itself_warm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(multiprocess.ENV, str(tmp_path))
    monkeypatch.setenv(multiprocess.PROCESSES_ENV, "2")
    (tmp_path / "warm").mkdir()
    (tmp_path / "warm" / "1").touch()  # the sibling is warm: no wait
    multiprocess.start_together(timeout=600)
    assert len(list((tmp_path / "warm").iterdir())) == 2


def test_a_single_process_does_not_wait(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(multiprocess.ENV, str(tmp_path))
    monkeypatch.setenv(multiprocess.PROCESSES_ENV, "1")
    multiprocess.start_together(timeout=600)
    assert not (tmp_path / "warm").exists()


def _studies_count(metrics: str) -> float:
    """The requests /metrics counted on the study list's route."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("regtune_http_request_duration_seconds_count")
        and 'route="/v1/studies"' in line
    )


def test_the_rehearsal_is_neither_logged_nor_counted(processes: Processes, sqlite_url: str) -> None:
    """An API process's own warm-up reads showed in its access log and /metrics as if a client
    had sent them; a client's read still shows in both."""
    stack = processes.stack(sqlite_url).start_api()
    with stack.client() as client:
        assert _studies_count(client.get("/metrics").text) == 0
        assert "GET /v1/studies" not in stack.logs()
        assert "rehearsed 2 reads before serving (2 200)" in stack.logs()

        assert client.get("/v1/studies").status_code == 200
        assert _studies_count(client.get("/metrics").text) == 1
    accesses = [line for line in stack.logs().splitlines() if "GET /v1/studies 200" in line]
    assert len(accesses) == 1, accesses
