"""A trial stopped by SIGTERM while the database is away says the worker was stopping.

Its FAIL could not be written until the database answered again, and the trial was then handed
back as if the database had cut it off: "handed back: the database failed mid-trial: …". The
stop is what ended it, so that is what its error now says, as a fused member's does.
"""

from __future__ import annotations

import logging
import signal

import optuna
import pytest
from optuna.trial import TrialState

from regtune.service.store.optuna_db.attrs import DATABASE_HANDBACKS_ATTR
from regtune.service.store.scheduling.retries import get_storage
from tests.inprocess import Apps, trials_running, worker_thread
from tests.pg import PostgresServer
from tests.service.test_client_optuna import STUDY
from tests.support import wait_for


def test_a_trial_stopped_in_an_outage_says_its_worker_was_stopping(
    apps: Apps, own_pg: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    api = apps(
        database_url=own_pg.create_database("stopping"),
        objective_factory="tests.objectives:wait_for_a_stop",
        grace_period=60,  # the stopping worker waits as long for the database
    )
    body = STUDY | {"name": "stopped-in-an-outage", "budget": {"n_trials": 1}}
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    study_id = created.json()["id"]

    caplog.set_level(logging.INFO)
    with worker_thread() as running:
        wait_for(lambda: trials_running(api, study_id), timeout=120, what="the trial to run")
        own_pg.stop("fast")
        try:
            running.worker.on_signal(signal.SIGTERM)
            wait_for(
                lambda: any("mid-trial" in r.getMessage() for r in caplog.records),
                timeout=120,
                what="the worker failing to end its trial",
            )
        finally:
            own_pg.start()

    study = optuna.load_study(study_name=created.json()["optuna_study_name"], storage=get_storage())
    trials = study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING], trials
    assert trials[0].user_attrs["error"] == (
        "handed back: the worker is stopping; its parameters run again"
    ), trials[0].user_attrs
    assert DATABASE_HANDBACKS_ATTR not in trials[1].system_attrs  # a stop: no database hand-back
