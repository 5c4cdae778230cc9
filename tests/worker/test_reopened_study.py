"""A study cancelled while a worker ran it, then reopened by ``extend``, runs its new trials on
that worker.

The heartbeat that saw the cancel was remembered for good: every trial of the study the same
worker claimed after the extension failed at its first stop check ("the study was cancelled
while the trial ran") without counting against the budget, so with one worker the study never
ended and wrote FAIL trials as fast as it could claim them.
"""

from __future__ import annotations

from collections import Counter

from tests.inprocess import Apps, trials_running, wait_for_the_end, worker_thread
from tests.service.test_client_optuna import STUDY
from tests.support import wait_for


def test_a_study_reopened_after_a_cancel_runs_on_the_worker_that_saw_the_cancel(
    apps: Apps,
) -> None:
    api = apps(objective_factory="tests.objectives:wait_for_a_stop_in_the_first_trial")
    body = STUDY | {"name": "cancelled-then-extended", "budget": {"n_trials": 2}}
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    study_id = created.json()["id"]

    with worker_thread():  # one worker: the one whose heartbeat sees the cancel
        wait_for(lambda: trials_running(api, study_id), timeout=120, what="trial 0 to run")
        assert api.post(f"/v1/studies/{study_id}/cancel").status_code == 200
        wait_for(lambda: trials_running(api, study_id) == 0, timeout=120, what="trial 0 to stop")
        extended = api.post(f"/v1/studies/{study_id}/extend", json={"n_trials": 1})
        assert extended.status_code == 200 and extended.json()["reopened"], extended.text
        study = wait_for_the_end(api, study_id, timeout=120)

    assert study["status"] == "completed", study
    trials = api.get(f"/v1/studies/{study_id}/trials", params={"limit": 100}).json()["items"]
    states = Counter(t["state"] for t in trials)
    assert states == {"FAIL": 1, "COMPLETE": 3}, states  # trial 0, stopped; then the budget
    [stopped] = [t for t in trials if t["state"] == "FAIL"]
    assert stopped["number"] == 0, stopped
