"""An objective's error that wraps a database error met in a real outage is handed back.

A worker that could not set a trial up for an outage gives its slot back uncounted
(``Worker._cannot_run``), but a trial whose objective said the same outage in its own words
(an error whose cause is the database's) was counted as the trial's own error once the database
answered again: with ``max_retries: 0`` the study failed for an outage. The trial is now handed
back as one the outage cut off; without an outage, such an error stays the trial's own
(``tests/worker/test_trial_errors.py``, "wrapped-database").
"""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from regtune.service.store.db import transaction
from regtune.service.store.scheduling.retries import get_storage
from regtune.service.store.tables import StudyRow
from tests import objectives
from tests.inprocess import Apps, trials_running, worker_thread
from tests.pg import PostgresServer
from tests.service.test_client_optuna import STUDY
from tests.support import wait_for


def test_an_objectives_error_wrapping_an_outage_hands_its_trial_back(
    apps: Apps, own_pg: PostgresServer
) -> None:
    api = apps(
        database_url=own_pg.create_database("wrapped"),
        objective_factory="tests.objectives:read_features_through_an_outage",
    )
    body = STUDY | {"name": "wrapped-outage", "budget": {"n_trials": 1, "max_retries": 0}}
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    study_id = created.json()["id"]

    objectives.FEATURES_LOST.clear()
    with worker_thread(max_trials=1) as running:
        wait_for(lambda: trials_running(api, study_id), timeout=120, what="the trial to run")
        own_pg.stop("fast")
        try:
            wait_for(objectives.FEATURES_LOST.is_set, timeout=120, what="the objective's read")
        finally:
            own_pg.start()
        running.ended()

    with transaction() as session:
        row = session.get(StudyRow, study_id)
        assert row is not None
        assert (row.status, row.n_errors, row.error) == ("running", 0, None)  # no error counted
    study = optuna.load_study(study_name=created.json()["optuna_study_name"], storage=get_storage())
    trials = study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING], trials
    error = trials[0].user_attrs["error"]
    assert error.startswith("handed back: the database failed mid-trial: "), error
    assert error.endswith("; its parameters run again"), error
