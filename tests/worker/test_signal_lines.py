"""What a worker stopped by SIGTERM says about its trial. It said "signal 15: finishing up,
handing the current trial back" whatever it was doing: idle, or just past a trial that had
ended (a line then tagged with that trial's number). It now names only the trials it really
handed back, or says that there was none."""

from __future__ import annotations

import contextvars
import io
import json
import logging
import signal
import threading
from typing import Any

import pytest

from regtune.service import logs
from regtune.worker.loop import Worker
from tests.inprocess import Apps, trials_running
from tests.service.test_client_optuna import STUDY
from tests.support import wait_for

SLEEPING = STUDY | {
    # one trial per claim, 200 epochs a stop is checked between
    "training": {"max_epochs": 200, "early_stopping": None, "lambda_path": None},
    "budget": {"n_trials": 1},
}


def _signalled(worker: Worker, ready: Any, *, study_id: str | None = None) -> None:
    """Run ``worker`` in a thread of its own, SIGTERM it (its handler) once ``ready()``, and
    wait for it to end. ``study_id``: the handler runs where the log context still names that
    study's trial 0, as the main loop's does while it finishes a trial that just ended."""
    thread = threading.Thread(target=contextvars.copy_context().run, args=(worker.run,))
    thread.start()
    try:
        wait_for(ready, timeout=120, what="the moment to signal")
    finally:
        with logs.context(study_id=study_id, trial=0 if study_id else None):
            worker.on_signal(signal.SIGTERM)
        thread.join(timeout=60)
    assert not thread.is_alive()


WORKER_LINES = ("regtune.worker.loop", "regtune.worker.trial_run", "regtune.worker.hand_back")
"""The loop's lines (the signal's), a trial's (handing it back) and the hand-back's."""


def _lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name in WORKER_LINES]


def test_a_trial_stopped_by_the_signal_is_named_as_handed_back(
    apps: Apps, caplog: pytest.LogCaptureFixture
) -> None:
    api = apps(objective_factory="bench.sleep_objective:make_objective", sleep_trial_seconds=120)
    study_id = api.post("/v1/studies", json=SLEEPING | {"name": "stopped-mid-trial"}).json()["id"]

    caplog.set_level(logging.INFO, logger="regtune.worker")
    _signalled(Worker(), lambda: trials_running(api, study_id))
    said = [r.getMessage() for r in _lines(caplog)]
    assert "signal 15: stopping" in said
    assert f"signal 15: handed back study {study_id} trial 0" in said
    trials = api.get(f"/v1/studies/{study_id}/trials").json()["items"]
    assert [t["state"] for t in trials] == ["FAIL", "WAITING"]  # handed back indeed


def test_a_signal_after_the_trial_ended_says_there_was_none_to_hand_back(
    apps: Apps, caplog: pytest.LogCaptureFixture
) -> None:
    api = apps(objective_factory="bench.sleep_objective:make_objective", sleep_trial_seconds=0.2)
    study_id = api.post("/v1/studies", json=SLEEPING | {"name": "ended-first"}).json()["id"]

    def ended() -> bool:
        return bool(api.get(f"/v1/studies/{study_id}").json()["status"] == "completed")

    caplog.set_level(logging.INFO, logger="regtune.worker")
    written = io.StringIO()
    as_logged = logging.StreamHandler(written)
    as_logged.setFormatter(logs.JsonFormatter())
    logging.getLogger("regtune.worker.loop").addHandler(as_logged)
    try:
        _signalled(Worker(), ended, study_id=study_id)
    finally:
        logging.getLogger("regtune.worker.loop").removeHandler(as_logged)
    said = [r.getMessage() for r in _lines(caplog)]
    assert "signal 15: no trial to hand back" in said
    assert not any("handing" in line or "handed back" in line for line in said), said
    lines = [json.loads(line) for line in written.getvalue().splitlines()]
    signalled = next(line for line in lines if line["msg"].startswith("signal 15: stopping"))
    assert signalled["trial"] is None and signalled["study_id"] is None  # not the ended trial
    trials = api.get(f"/v1/studies/{study_id}/trials").json()["items"]
    assert [t["state"] for t in trials] == ["COMPLETE"]
