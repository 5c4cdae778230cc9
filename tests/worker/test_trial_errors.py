"""A trial's error is its tenant's to read: the cause in words and what to do, on one bounded
line, without the server's paths; the worker's log keeps the whole exception.

Trials failed with ``Type: message`` as the exception said it: a removed file's or a blocked
checkpoint's full path on the server, and whatever torch or numpy put in the message.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from pathlib import Path

import optuna
import pytest
from fastapi.testclient import TestClient

from regtune.service.store.scheduling.retries import get_storage
from regtune.worker.failures import MAX_DETAIL, trial_error
from regtune.worker.loop import Worker
from tests import objectives
from tests.inprocess import Apps

CAUSES = {
    "file-gone": "a file the trial reads is gone",
    "diverges": "the training diverged (NaN or infinite values): lower the learning_rate",
    "read-only-artifacts": "the worker cannot write a file it needs",
    "shape-mismatch": "a shape mismatch",
    "one-column": "a shape mismatch",
    "out-of-memory": "out of memory",
    # the objective's own timeouts and connections are not the database's: no hand-back
    "timed-out": "a step of the trial timed out",
    "connection-reset": "ConnectionResetError: [Errno 104] Connection reset by peer",
    # an objective's error that wraps a database error is its own, counted: it was handed back
    # on every claim ("its retry is queued", none was), the study running for ever
    "wrapped-database": "the database failed: it refuses connections or cannot be reached",
}


def test_a_failed_trials_error_says_why_without_the_servers_paths(
    apps: Apps, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    workdir = tmp_path / "srv-secret"
    (workdir / "srv-data").mkdir(parents=True)
    (workdir / "srv-data" / "rows.csv").write_text("1,2\n3,4\n")
    (workdir / "srv-artifacts").write_text("a file where the directory should be")
    objectives.WORKDIR = workdir
    api: TestClient = apps(objective_factory="tests.objectives:fail_as_training_does")
    studies = {}
    for name in CAUSES:
        body = {
            "name": name,
            "dataset": {"builtin": "diabetes"},
            "search_space": {"lambda": {"low": 1e-3, "high": 1.0, "log": True}},
            "pruner": {"type": "none"},
            "budget": {"n_trials": 1, "max_retries": 0},
        }
        created = api.post("/v1/studies", json=body)
        assert created.status_code == 201, created.text
        studies[name] = created.json()
    (workdir / "srv-data" / "rows.csv").unlink()  # the dataset's file removed under the worker

    worker = Worker()
    runner = threading.Thread(target=contextvars.copy_context().run, args=(worker.run,))
    with caplog.at_level(logging.WARNING):
        runner.start()
        deadline = time.monotonic() + 120
        try:
            while time.monotonic() < deadline:
                shown = [api.get(f"/v1/studies/{s['id']}").json() for s in studies.values()]
                if all(s["status"] == "failed" for s in shown):
                    break
                time.sleep(0.05)
        finally:
            worker.stopping.set()
            runner.join(timeout=30)
    assert not runner.is_alive()

    for name, words in CAUSES.items():
        study = api.get(f"/v1/studies/{studies[name]['id']}").json()
        assert study["status"] == "failed", study
        loaded = optuna.load_study(
            study_name=studies[name]["optuna_study_name"], storage=get_storage()
        )
        (trial,) = loaded.get_trials(deepcopy=False)  # FAILed once, not handed back
        error = trial.user_attrs["error"]
        for shown in (error, study["error"]):
            assert words in shown, (name, shown)
            assert "srv-secret" not in shown and str(tmp_path) not in shown, (name, shown)
            assert "\n" not in shown, (name, shown)
        assert len(error) <= len(words) + 300 + MAX_DETAIL, error
    # the operator's log keeps each exception whole: its paths and its traceback
    assert str(workdir / "srv-data" / "rows.csv") in caplog.text
    assert str(workdir / "srv-artifacts" / "checkpoint.npy") in caplog.text
    assert "Traceback" in caplog.text and "mat1 and mat2 shapes" in caplog.text
    assert "Reshape your data" in caplog.text
    assert "retry is queued" not in caplog.text


def test_a_message_loses_its_addresses_and_all_but_its_first_line() -> None:
    try:
        try:
            raise ConnectionRefusedError("[Errno 111] Connection refused")
        except ConnectionRefusedError as exc:
            raise RuntimeError(
                "could not fetch https://data.internal:8443/rows.csv?token=s3cret from "
                "10.0.0.7:5432 into /srv/regtune/tmp/rows.csv" + " and more" * 100 + "\n"
                'Traceback (most recent call last):\n  File "/srv/regtune/x.py", line 1'
            ) from exc
    except RuntimeError as exc:
        error = trial_error(exc)
    assert error.startswith("RuntimeError: could not fetch <url> from <address> into <path>")
    assert "s3cret" not in error and "/srv" not in error and "\n" not in error, error
    assert len(error) == MAX_DETAIL and error.endswith("…"), error
