"""Why a study ended, said alike by ``GET /v1/studies/{id}`` (``end``), the study report and
``regtune show`` / ``watch``: a study whose ``budget.timeout_s`` ran out completed normally, as
Optuna's ``timeout`` ends a study (was: its ``error``, the report's red error box and a red
``error:`` line, as if it had failed); one that did its ``budget.n_trials`` says so, as does a
cancelled one.

Fast and in-process: the sweep of the app's own process ends the timed study (no worker runs).
"""

from __future__ import annotations

import contextvars
import re
import sqlite3
from typing import Any

import pytest
from fastapi.testclient import TestClient

from regtune.service.api.study_end import DEADLINE_ERROR
from tests.inprocess import (
    Apps,
    cli_output,
    cli_result,
    run_to_the_end,
    trials_running,
    worker_thread,
)
from tests.service.test_rest_contract import definition
from tests.support import wait_for

TIMED_OUT = (
    "budget.timeout_s (1 s) passed: nothing was claimed after it, and the study completed with 0 "
    "of budget.n_trials 4 trials (those claimed before it ran to their end)"
)
NO_FAIL = {
    "interrupted": 0,
    "never_run": 0,
    "stopped_by_cancel": 0,
    "stopped_by_study_failure": 0,
    "failed": 0,
}
"""A study's end with no trial in state FAIL."""


def ended(api: TestClient, study_id: str) -> dict[str, Any]:
    def answer() -> dict[str, Any] | None:
        found: dict[str, Any] = api.get(f"/v1/studies/{study_id}").json()
        return found if found["status"] not in ("queued", "running") else None

    return wait_for(answer, timeout=60, what=f"study {study_id} to end")


def timed_out(api: TestClient) -> dict[str, Any]:
    """A study of ``timeout_s: 1`` that no worker runs: the deadline ends it with 0 trials."""
    body = {**definition("timed"), "budget": {"n_trials": 4, "timeout_s": 1}}
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    return ended(api, created.json()["id"])


def text_of(html: str, element_id: str) -> str | None:
    found = re.search(rf'id="{element_id}">(.*?)</(?:p|div)>', html, re.S)
    return None if found is None else re.sub(r"<[^>]+>", "", found.group(1))


def as_stored_by_an_older_release(apps: Apps, study_id: str, error: str) -> TestClient:
    """A new app on a copy of the last app's database whose study ``study_id`` carries
    ``error``, as an older release left it."""
    older = Apps.database_path(apps.clients[-1])
    with sqlite3.connect(older) as db:
        db.execute("UPDATE regtune_studies SET error = ? WHERE id = ?", (error, study_id))
    db.close()
    return apps(database=older)


def test_a_study_ended_by_its_time_budget_completed_and_says_why_not_as_an_error(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = apps()
    study = timed_out(api)
    assert study["status"] == "completed" and study["progress"]["done"] == 0
    assert study["end"] == {"reason": "timeout_s", "message": TIMED_OUT, **NO_FAIL}
    assert study["error"] is None

    report = api.get(f"/v1/studies/{study['id']}/report").text
    assert text_of(report, "end") == f"Ended: {TIMED_OUT}."
    assert text_of(report, "error") is None

    for command in ("show", "watch"):
        said = cli_output(api, monkeypatch, command, study["id"])
        assert f"ended: {TIMED_OUT}" in said, said
        assert "error:" not in said, said


def test_a_deadline_stored_as_an_error_by_an_older_release_is_shown_as_the_end(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Older releases wrote the deadline's end to the study's ``error``; a database they used
    shows those studies as ended by their time budget, with no error."""
    study = timed_out(apps())
    api = as_stored_by_an_older_release(apps, study["id"], DEADLINE_ERROR)
    again = api.get(f"/v1/studies/{study['id']}").json()
    assert again["error"] is None and again["end"]["reason"] == "timeout_s", again
    assert text_of(api.get(f"/v1/studies/{study['id']}/report").text, "error") is None
    assert "error:" not in cli_output(api, monkeypatch, "show", study["id"])


def test_a_study_that_did_its_trials_or_was_cancelled_says_so(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = apps()
    done = api.post("/v1/studies", json=definition("done", n_trials=2)).json()
    assert done["end"] is None  # queued: not ended
    finished = run_to_the_end(api, done["id"])
    assert finished["end"] == {
        "reason": "n_trials",
        "message": "budget.n_trials reached: 2 trials done",
        **NO_FAIL,
    }
    report = api.get(f"/v1/studies/{done['id']}/report").text
    assert text_of(report, "end") == "Ended: budget.n_trials reached: 2 trials done."

    queued = api.post("/v1/studies", json=definition("stopped")).json()
    assert api.post(f"/v1/studies/{queued['id']}/cancel").status_code == 200
    stopped = ended(api, queued["id"])
    said = "cancelled with 0 of budget.n_trials 4 trials done"
    assert stopped["end"] == {"reason": "cancelled", "message": said, **NO_FAIL}
    result = cli_result(api, monkeypatch, "watch", queued["id"])
    assert result.exit_code == 2 and f"ended: {said}" in " ".join(result.output.split())


def test_a_budget_of_one_trial_says_it_in_the_singular(apps: Apps) -> None:
    api = apps()
    one = api.post("/v1/studies", json=definition("one", n_trials=1)).json()
    assert (
        run_to_the_end(api, one["id"])["end"]["message"] == "budget.n_trials reached: 1 trial done"
    )
    queued = api.post("/v1/studies", json=definition("one-stopped", n_trials=1)).json()
    assert api.post(f"/v1/studies/{queued['id']}/cancel").status_code == 200
    said = ended(api, queued["id"])["end"]["message"]
    assert said == "cancelled with 0 of budget.n_trials 1 trial done", said


RETRIED = (
    "budget.n_trials reached: 2 trials done; 1 trial not counted toward budget.n_trials (state "
    "FAIL): 1 failed (its error says why)"
)


def test_a_study_that_completed_after_a_trial_failed_shows_its_end_not_that_error(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its first trial raised, new parameters took its slot and the study did its trials: it showed
    that trial's error as its own (the report's red box, a red ``error:`` line in ``regtune
    show``) as if it had failed. A study that fails of the same error still shows it."""
    api = apps(objective_factory="tests.objectives:fail_the_first_trial")
    created = api.post("/v1/studies", json=definition("retried", n_trials=2)).json()
    study = run_to_the_end(api, created["id"])
    assert study["status"] == "completed" and study["counts"]["FAIL"] == 1, study
    assert study["error"] is None, study
    assert study["end"]["reason"] == "n_trials"
    assert study["end"]["message"] == RETRIED, study["end"]
    assert (study["end"]["interrupted"], study["end"]["failed"]) == (0, 1), study["end"]
    assert study["best_model"] is not None
    with sqlite3.connect(Apps.database_path(api)) as db:  # nor does its row, for SQL readers
        stored = db.execute("SELECT error FROM regtune_studies WHERE id = ?", (study["id"],))
        assert stored.fetchone() == (None,)
    db.close()

    report = api.get(f"/v1/studies/{study['id']}/report").text
    assert text_of(report, "error") is None
    assert (text_of(report, "end") or "").startswith(f"Ended: {RETRIED}"), text_of(report, "end")
    for command in ("show", "watch"):
        said = cli_output(api, monkeypatch, command, study["id"])
        assert f"ended: {RETRIED}" in said and "error:" not in said, said
    assert "has no saved model" not in cli_output(api, monkeypatch, "best", study["id"])

    body = {**definition("failed"), "budget": {"n_trials": 2, "max_retries": 0}}
    failed = run_to_the_end(api, api.post("/v1/studies", json=body).json()["id"])
    assert failed["status"] == "failed" and failed["end"]["reason"] == "failed", failed
    assert "the training diverged" in failed["error"], failed
    assert "the training diverged" in (text_of(api.get(failed["report_url"]).text, "error") or "")
    said = " ".join(cli_result(api, monkeypatch, "show", failed["id"]).output.split())
    assert "error: " in said and "the training diverged" in said, said


def test_a_running_study_shows_a_failed_trials_error_as_a_trials_not_as_its_own(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its first trial raised: the study goes on, yet it showed that error as its own
    (``error``, the report's red box, a red ``error:`` line in ``regtune show``) as if it were
    failing. It is the trials' now, said in neutral words, and true ones: its parameters do not
    run again (they said they did), and the study fails only past ``budget.max_retries``."""
    from regtune.worker.loop import Worker

    api = apps(objective_factory="tests.objectives:fail_the_first_trial")
    created = api.post("/v1/studies", json=definition("going-on", n_trials=2)).json()
    assert contextvars.copy_context().run(Worker().run, max_trials=1) == 1  # trial 0 FAILs
    study = api.get(f"/v1/studies/{created['id']}").json()
    assert study["status"] == "running" and study["counts"]["FAIL"] == 1, study
    assert study["error"] is None, study
    said = (
        "last trial error (its parameters are not run again; the study goes on, failing only "
        "past budget.max_retries 2 errors: 1 so far; 1 trial not counted toward budget.n_trials "
        "(state FAIL): 1 failed (its error says why)): "
    )
    errors = study["trial_errors"]
    assert errors["failed"] == 1 and "the training diverged" in errors["last"], errors
    assert (errors["interrupted"], errors["errors"]) == (0, 1), errors
    assert errors["message"] == said + errors["last"], errors

    report = api.get(study["report_url"]).text
    assert text_of(report, "error") is None
    assert text_of(report, "trial-errors") == f"{errors['message']}.", report
    shown = cli_output(api, monkeypatch, "show", study["id"])
    assert said + "the training diverged" in shown and "error:" not in shown, shown

    ended = run_to_the_end(api, study["id"])  # its end counts the failure, as before
    assert ended["trial_errors"] is None and ended["error"] is None, ended
    assert ended["end"]["message"] == RETRIED, ended["end"]


def test_a_trials_error_an_older_release_left_on_a_completed_study_is_not_its_error(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Older releases kept a retried trial's error on the study after it completed; a database
    they used shows those studies as completed, with no error. A best model's error stays."""
    api = apps()
    study = run_to_the_end(api, api.post("/v1/studies", json=definition("old", 2)).json()["id"])
    trial_error = "trial 0: FloatingPointError: the trainer diverged"
    api = as_stored_by_an_older_release(apps, study["id"], trial_error)
    again = api.get(f"/v1/studies/{study['id']}").json()
    assert again["error"] is None and again["end"]["reason"] == "n_trials", again
    assert text_of(api.get(f"/v1/studies/{study['id']}/report").text, "error") is None
    assert "error:" not in cli_output(api, monkeypatch, "show", study["id"])

    model_error = "best model not saved: gave up after 5 attempts; last error: OSError: disk full"
    api = as_stored_by_an_older_release(apps, study["id"], model_error)
    assert api.get(f"/v1/studies/{study['id']}").json()["error"] == model_error


def test_a_cancelled_study_tells_a_trial_handed_back_from_its_retry_that_never_ran(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker stopped mid-trial hands its trial back (FAIL, a WAITING copy of its
    parameters); the study is cancelled before any worker takes the copy, which the sweep then
    fails unstarted. Its end said "2 trials failed along the way", as if both had crashed: it
    now says one was interrupted and one never ran, neither a failure of its own."""
    from regtune.worker.loop import Worker
    from tests.worker.test_signal_lines import SLEEPING, _signalled

    api = apps(objective_factory="bench.sleep_objective:make_objective", sleep_trial_seconds=120)
    body = SLEEPING | {"name": "stopped-then-cancelled", "budget": {"n_trials": 2}}
    study_id = api.post("/v1/studies", json=body).json()["id"]

    _signalled(Worker(), lambda: trials_running(api, study_id))  # its trial handed back
    assert api.post(f"/v1/studies/{study_id}/cancel").status_code == 200

    def unrun() -> dict[str, Any] | None:
        study: dict[str, Any] = api.get(f"/v1/studies/{study_id}").json()
        return study if study["counts"]["FAIL"] == 2 else None

    study = wait_for(unrun, timeout=60, what="the sweep to fail the queued retry")
    said = (
        "cancelled with 0 of budget.n_trials 2 trials done; 2 trials not counted toward "
        "budget.n_trials (state FAIL): 1 interrupted and not run again (the study ended first), "
        "1 queued and never run (the study ended first)"
    )
    assert study["end"] == {
        "reason": "cancelled",
        "message": said,
        **NO_FAIL,
        "interrupted": 1,
        "never_run": 1,
    }, study["end"]
    assert text_of(api.get(study["report_url"]).text, "end") == f"Ended: {said}."
    assert f"ended: {said}" in cli_output(api, monkeypatch, "show", study_id)


def test_a_trial_stopped_by_the_cancel_is_counted_apart_from_failed_ones(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A study cancelled while its trial runs: its worker stops the trial (FAIL). Its end said
    "1 failed or stopped by the cancel (its error says why)", as if it might have crashed, and
    counted it in ``end.failed``: it now says it was stopped by the cancel, in
    ``end.stopped_by_cancel``."""
    from tests.worker.test_signal_lines import SLEEPING

    api = apps(objective_factory="bench.sleep_objective:make_objective", sleep_trial_seconds=120)
    body = SLEEPING | {"name": "cancelled-mid-trial", "budget": {"n_trials": 2}}
    study_id = api.post("/v1/studies", json=body).json()["id"]

    with worker_thread(max_trials=1) as running:
        wait_for(lambda: trials_running(api, study_id), timeout=120, what="the trial to run")
        assert api.post(f"/v1/studies/{study_id}/cancel").status_code == 200
        running.ended()  # the heartbeat's round trip tells it of the cancel

    study = api.get(f"/v1/studies/{study_id}").json()
    said = (
        "cancelled with 0 of budget.n_trials 2 trials done; 1 trial not counted toward "
        "budget.n_trials (state FAIL): 1 stopped by the cancel"
    )
    assert study["end"] == {
        "reason": "cancelled",
        "message": said,
        **NO_FAIL,
        "stopped_by_cancel": 1,
    }, study["end"]
    (trial,) = api.get(f"/v1/studies/{study_id}/trials").json()["items"]
    assert trial["user_attrs"]["error"].endswith("the study was cancelled while the trial ran")
    assert text_of(api.get(study["report_url"]).text, "end") == f"Ended: {said}."
    assert f"ended: {said}" in cli_output(api, monkeypatch, "show", study_id)
    watched = cli_result(api, monkeypatch, "watch", study_id)  # exits non-zero: not completed
    assert f"ended: {said}" in " ".join(watched.output.split()), watched.output


def test_a_trial_stopped_when_its_study_failed_is_counted_apart_from_failed_ones(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trial 0 runs while trial 1's error fails the study (``budget.max_retries: 0``): its
    worker stops it ("the study ended (failed) while the trial ran"). The study's end counted it
    in ``end.failed``, beside the trial that failed of itself, as if it had failed too: it now
    says it was stopped when the study failed, in ``end.stopped_by_study_failure``."""
    from tests.worker.test_signal_lines import SLEEPING

    api = apps(
        objective_factory="tests.objectives:fail_the_second_trial_while_the_first_sleeps",
        sleep_trial_seconds=120,
    )
    budget = {"n_trials": 2, "max_parallel": 2, "max_retries": 0}
    body = SLEEPING | {"name": "failed-mid-trial", "budget": budget}
    study_id = api.post("/v1/studies", json=body).json()["id"]

    with worker_thread(max_trials=1) as sleeping:
        wait_for(lambda: trials_running(api, study_id), timeout=120, what="trial 0 to run")
        with worker_thread(max_trials=1) as failing:
            failing.ended()  # trial 1 raised: the study failed
        sleeping.ended()  # the heartbeat's round trip tells it of the failure

    study = api.get(f"/v1/studies/{study_id}").json()
    assert study["status"] == "failed" and study["counts"]["FAIL"] == 2, study
    assert "the trainer diverged" in study["error"], study
    said = (
        "failed with 0 of budget.n_trials 2 trials done: the error says why; 2 trials not "
        "counted toward budget.n_trials (state FAIL): 1 stopped when the study failed, 1 failed "
        "(its error says why)"
    )
    assert study["end"] == {
        "reason": "failed",
        "message": said,
        **NO_FAIL,
        "stopped_by_study_failure": 1,
        "failed": 1,
    }, study["end"]
    trials = api.get(f"/v1/studies/{study_id}/trials").json()["items"]
    errors = [t["user_attrs"]["error"] for t in trials]
    assert errors[0].endswith("the study ended (failed) while the trial ran"), errors
    assert "the trainer diverged" in errors[1], errors
    assert text_of(api.get(study["report_url"]).text, "end") == f"Ended: {said}."
    watched = cli_result(api, monkeypatch, "watch", study_id)  # exits 1: the study failed
    assert watched.exit_code == 1, watched.output
    shown = " ".join(watched.output.split())
    assert f"ended: {said}" in shown, watched.output
    assert "failed 1 · running 0 · stopped when the study failed 1 · best" in shown, shown
