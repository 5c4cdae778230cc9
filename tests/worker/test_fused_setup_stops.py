"""A worker signalled, or whose study is cancelled, while it sets a fused pass up (its data read
and split: seconds a fold on large data) starts none of the pass's trials and gives every slot it
took back uncounted, as it does for a single trial. It went from its setup straight into
training: every member started, then was handed back (or stopped by the cancel)."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from regtune.worker import objective
from regtune.worker.loop import Worker
from tests.inprocess import Apps
from tests.worker.test_fused_trials import mlp_study
from tests.worker.test_path_stops import _claims, _states


def _study(api: TestClient, name: str = "stopped-pass") -> str:
    """An MLP study whose first claim takes a fused pass of 4 slots."""
    created = api.post("/v1/studies", json=mlp_study(name, 6, fused_trials=4))
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _during_setup(monkeypatch: pytest.MonkeyPatch, then: Callable[[], None]) -> None:
    """``then()`` as the pass's setup begins (``set_threads``, its first step)."""
    threads = objective.set_threads

    def first() -> None:
        then()
        threads()

    monkeypatch.setattr(objective, "set_threads", first)


def _said(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name in ("regtune.worker.loop", "regtune.worker.trial_run", "regtune.worker.fused")
    ]


def test_a_worker_signalled_while_it_sets_a_fused_pass_up_starts_no_trial(
    apps: Apps, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    api = apps()
    study_id = _study(api)
    worker = Worker()
    _during_setup(monkeypatch, lambda: worker.on_signal(signal.SIGTERM))
    caplog.set_level(logging.INFO, logger="regtune.worker")

    assert worker.run(max_trials=4) == 0  # none ran

    assert _states(api, study_id) == []
    study = api.get(f"/v1/studies/{study_id}").json()
    assert study["status"] in ("queued", "running") and study["progress"]["done"] == 0, study
    assert _claims(study_id) == 0  # the 4 slots given back, uncounted
    said = _said(caplog)
    assert (
        f"study {study_id}: the worker is stopping; 4 slots given back before their trials "
        "started" in said
    ), said
    assert "signal 15: no trial to hand back" in said
    assert not any("started (fused)" in line for line in said), said


def test_a_fused_pass_whose_study_is_cancelled_during_its_setup_starts_no_trial(
    apps: Apps, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The cancel reaches the worker (its heartbeat) while the pass reads its data. Under
    ``--max-trials 4`` the pass that gave its 4 slots back ran none, so the worker goes on to the
    next study's pass (was: it counted 4 and exited, having run none)."""
    api = apps()
    studies = {_study(api, "cancelled-pass"), _study(api, "next-pass")}
    worker = Worker()
    cancelled: list[str] = []

    def cancel_the_first() -> None:
        if cancelled:
            return
        study_id = worker.current[0]
        assert study_id is not None
        cancelled.append(study_id)
        assert api.post(f"/v1/studies/{study_id}/cancel").status_code == 200
        worker.heartbeat.beat()

    _during_setup(monkeypatch, cancel_the_first)
    caplog.set_level(logging.INFO, logger="regtune.worker")

    assert worker.run(max_trials=4) == 4

    (study_id,) = cancelled
    assert _states(api, study_id) == []
    study = api.get(f"/v1/studies/{study_id}").json()
    assert study["status"] == "cancelled" and study["progress"]["done"] == 0, study
    assert _claims(study_id) == 0
    said = _said(caplog)
    assert f"study {study_id} stopped; 4 slots given back before their trials started" in said
    assert not any(f"study {study_id} trial" in line for line in said), said
    (other,) = studies - set(cancelled)
    assert len(_states(api, other)) == 4
