"""A database error that the same parameters meet on every claim ends as the trial's error.

An outage stops the claims too, so a trial handed back for a database error mid-trial is
retried once the database answers. An error the database gives every time (here on storing a
finished trial's value: a trigger that names a table a broken migration left out) used to be
handed back on every claim for ever, a FAIL and a WAITING copy each time. Now the parameters
are handed back ``DATABASE_HANDBACKS`` times and then fail as errors, counted against
``max_retries``, so the study fails and says why. A trial whose copy could not be queued at all
says so too.
"""

from __future__ import annotations

import contextvars
import signal
import threading
import time
from datetime import datetime

import optuna
from fastapi.testclient import TestClient
from optuna.trial import TrialState
from sqlalchemy import text

from regtune.service.store.clock import utcnow
from regtune.service.store.db import get_engine, transaction
from regtune.service.store.optuna_db.attrs import DATABASE_HANDBACKS_ATTR
from regtune.service.store.scheduling.retries import get_storage
from regtune.service.store.tables import WorkerRow
from regtune.worker.loop import Worker
from regtune.worker.outcomes import DATABASE_HANDBACKS
from tests.inprocess import Apps, WorkerThread, trials_running, worker_thread
from tests.service.test_client_optuna import STUDY
from tests.support import wait_for

BROKEN = """
CREATE TRIGGER broken BEFORE INSERT ON trial_values
BEGIN INSERT INTO regtune_left_out (x) VALUES (1); END
"""


def test_parameters_that_meet_the_same_database_error_on_every_claim_end_as_errors(
    api: TestClient,
) -> None:
    body = {
        "name": "broken-schema",
        "dataset": {"builtin": "diabetes"},
        "search_space": {"lambda": {"low": 1e-3, "high": 1.0, "log": True}, "l1_ratio": 0.5},
        "training": {"lambda_path": None},
        "pruner": {"type": "none"},
        "budget": {"n_trials": 4, "max_retries": 1},
    }
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    study_id = created.json()["id"]
    with get_engine().begin() as connection:
        connection.execute(text(BROKEN))

    worker = Worker()
    runner = threading.Thread(target=contextvars.copy_context().run, args=(worker.run,))
    runner.start()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if api.get(f"/v1/studies/{study_id}").json()["status"] == "failed":
                break
            time.sleep(0.05)
    finally:
        worker.stopping.set()
        runner.join(timeout=30)
    assert not runner.is_alive()

    shown = api.get(f"/v1/studies/{study_id}").json()
    assert shown["status"] == "failed", shown
    assert "regtune_left_out" in str(shown), shown  # the study says why
    study = optuna.load_study(study_name=created.json()["optuna_study_name"], storage=get_storage())
    trials = study.get_trials(deepcopy=False)
    # two parameter sets (max_retries 1: the second error fails the study), each handed back
    # DATABASE_HANDBACKS times and then failed: no more trials than that, none left waiting
    assert len(trials) == 2 * (DATABASE_HANDBACKS + 1)
    assert all(t.state == TrialState.FAIL for t in trials)
    lineages = {tuple(sorted(t.params.items())) for t in trials}
    assert len(lineages) == 2
    counted = sorted(t.system_attrs.get(DATABASE_HANDBACKS_ATTR, 0) for t in trials)
    assert counted == sorted(list(range(DATABASE_HANDBACKS + 1)) * 2)
    # the last of each lineage was not handed back: its error says so, not that it runs again
    last = [
        t for t in trials if t.system_attrs.get(DATABASE_HANDBACKS_ATTR, 0) == DATABASE_HANDBACKS
    ]
    assert len(last) == 2
    for trial in last:
        assert "not handed back" in trial.user_attrs["error"], trial.user_attrs
        assert "run again" not in trial.user_attrs["error"], trial.user_attrs


NO_COPIES = """
CREATE TRIGGER no_copies BEFORE INSERT ON trials WHEN NEW.state = 'WAITING'
BEGIN INSERT INTO regtune_left_out (x) VALUES (1); END
"""


def beat_since(worker_id: str, moment: datetime) -> bool:
    """Whether the worker's registry row records a heartbeat after ``moment``."""
    with transaction() as session:
        row = session.get(WorkerRow, worker_id)
        return row is not None and row.last_seen > moment


def alive(running: WorkerThread) -> bool:
    return running.thread.is_alive()


def test_a_trial_whose_retry_could_not_be_queued_says_so(apps: Apps) -> None:
    """A stopped worker hands its trial back; when the database fails every try to queue the
    copy of its parameters until the worker's grace period is over, the trial's error said
    "its parameters run again" all the same. It now says that no retry was queued. Its
    heartbeat ended with the signal, so a sweep could take the trial as a dead worker's while
    the worker still waited; it now beats until the worker ends."""
    api = apps(objective_factory="tests.objectives:wait_for_a_stop", grace_period=3)
    body = STUDY | {"name": "no-copies", "budget": {"n_trials": 1}}
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    study_id = created.json()["id"]

    with worker_thread() as running:
        wait_for(lambda: trials_running(api, study_id), timeout=120, what="the trial to run")
        with get_engine().begin() as connection:  # after the ask, which inserts a WAITING row
            connection.execute(text(NO_COPIES))
        stopped_at = utcnow()
        running.worker.on_signal(signal.SIGTERM)
        # while it waits for the database to queue the copy, the stopping worker still holds
        # the trial: it beats for it, or a sweep would fail it as its dead worker's meanwhile
        beaten = wait_for(
            lambda: "beat" if beat_since(running.worker.id, stopped_at) else not alive(running),
            timeout=60,
            what="a beat, or the worker's end",
        )
        assert beaten == "beat", "the worker ended without a heartbeat after the signal"

    with transaction() as session:  # ended: unregistered, and no late beat registered it again
        assert session.get(WorkerRow, running.worker.id) is None
    study = optuna.load_study(study_name=created.json()["optuna_study_name"], storage=get_storage())
    (trial,) = study.get_trials(deepcopy=False)  # no copy
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs["error"] == (
        "the worker is stopping; no retry queued: the database failed (OperationalError: no "
        "such table: main.regtune_left_out)"
    ), trial.user_attrs
