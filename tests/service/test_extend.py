"""A study given more trials (``POST /v1/studies/{id}/extend``, ``regtune extend``), as Optuna's
``optimize`` called again on a study, Katib's raised ``maxTrialCount`` and a resumed W&B sweep
give them: a completed or cancelled study is queued again and goes on from its trials (was: a
new study had to be submitted, and the sampler's history was lost), a queued or running one goes
on with the larger budget; at rest exactly the new ``budget.n_trials`` trials are COMPLETE or
PRUNED, and the best model is the best trial's at the new end.

Fast and in-process: the app under ``TestClient``, worker threads run the studies.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from regtune.service.settings import get_settings
from regtune.service.store.clock import utcnow
from tests.inprocess import Apps, run_to_the_end, trials_running, worker_thread
from tests.service.test_rest_contract import definition, rows_csv
from tests.service.test_study_end import ended
from tests.support import wait_for
from tests.worker.test_signal_lines import SLEEPING

ADMIN = "extend-admin-key-0123456789abcdef"


def done(study: dict[str, Any]) -> int:
    return int(study["counts"]["COMPLETE"] + study["counts"]["PRUNED"])


def extend(api: TestClient, study_id: str, **body: Any) -> dict[str, Any]:
    answer = api.post(f"/v1/studies/{study_id}/extend", json=body)
    assert answer.status_code == 200, answer.text
    extended: dict[str, Any] = answer.json()
    return extended


def test_a_completed_study_extended_runs_its_new_trials_and_saves_the_new_best_trials_model(
    apps: Apps, database_url: str
) -> None:
    """On both backends: the extension's UPDATE, its best model set aside in the same
    transaction, the next end's model published while the row is held, the old file removed."""
    api = apps(database_url=database_url)
    first = run_to_the_end(api, api.post("/v1/studies", json=definition("grown", 2)).json()["id"])
    assert first["status"] == "completed" and done(first) == 2, first
    old_model = first["best_model"]
    assert old_model["trial"] == first["best_trial"]["number"]

    extended = extend(api, first["id"], n_trials=6)
    assert (extended["n_trials_before"], extended["status_before"]) == (2, "completed")
    assert extended["reopened"] is True
    study = extended["study"]
    assert study["status"] == "queued" and study["progress"]["n_trials"] == 8, study
    assert study["definition"]["budget"]["n_trials"] == 8
    assert (study["finished_at"], study["end"], study["best_model"]) == (None, None, None), study
    assert api.get(f"/v1/studies/{first['id']}/best-model").status_code == 404  # until its end

    again = run_to_the_end(api, first["id"])
    assert again["status"] == "completed" and done(again) == 8, again
    assert again["counts"]["RUNNING"] == again["counts"]["WAITING"] == 0, again
    assert again["end"]["message"] == "budget.n_trials reached: 8 trials done", again["end"]
    assert again["best_trial"]["number"] >= 2, "a trial of the extension is the best"
    model = again["best_model"]
    assert model["trial"] == again["best_trial"]["number"], model
    assert model["artifact_id"] != old_model["artifact_id"], model
    download = api.get(f"/v1/studies/{first['id']}/best-model")
    assert download.status_code == 200
    assert download.headers["x-regtune-trial"] == str(again["best_trial"]["number"])
    store = get_settings().artifact_dir
    assert (store / model["artifact_id"]).exists()
    assert not (store / old_model["artifact_id"]).exists(), "the replaced file is removed"


def test_a_study_whose_best_trial_stays_keeps_its_model_without_retraining(
    api: TestClient,
) -> None:
    """The random sampler (seed 0) drew its best point at trial 2 of 3, and its 4th trial is no
    better: the model of the first end stands again, the same file, not retrained."""
    first = run_to_the_end(api, api.post("/v1/studies", json=definition("same", 3)).json()["id"])
    assert first["best_trial"]["number"] == 2, first["best_trial"]
    extend(api, first["id"], n_trials=1)
    again = run_to_the_end(api, first["id"])
    assert done(again) == 4 and again["best_trial"]["number"] == 2, again
    assert again["best_model"] == first["best_model"]  # its artifact id and created_at too


def test_a_running_study_extended_goes_on_to_its_larger_budget(apps: Apps) -> None:
    api = apps(objective_factory="bench.sleep_objective:make_objective", sleep_trial_seconds=0.5)
    body = SLEEPING | {"name": "running", "budget": {"n_trials": 2, "max_parallel": 1}}
    study_id = api.post("/v1/studies", json=body).json()["id"]
    with worker_thread(max_trials=1) as one:  # one of its two trials: it cannot complete
        wait_for(lambda: trials_running(api, study_id), timeout=120, what="its first trial")
        extended = extend(api, study_id, n_trials=2)
        one.ended()
    assert (extended["status_before"], extended["reopened"]) == ("running", False), extended
    assert extended["study"]["status"] == "running", extended["study"]
    assert extended["study"]["progress"]["n_trials"] == 4
    assert extended["study"]["definition"]["budget"]["n_trials"] == 4

    study = run_to_the_end(api, study_id)
    assert study["status"] == "completed" and done(study) == 4, study
    assert study["end"]["message"] == "budget.n_trials reached: 4 trials done", study["end"]


def test_a_cancelled_study_extended_resumes(api: TestClient) -> None:
    study_id = api.post("/v1/studies", json=definition("paused", 2)).json()["id"]
    assert api.post(f"/v1/studies/{study_id}/cancel").json()["status"] == "cancelled"
    extended = extend(api, study_id, n_trials=1)
    assert (extended["status_before"], extended["reopened"]) == ("cancelled", True), extended
    assert extended["study"]["status"] == "queued" and extended["study"]["end"] is None

    study = run_to_the_end(api, study_id)
    assert study["status"] == "completed" and done(study) == 3, study
    assert study["best_model"]["trial"] == study["best_trial"]["number"]


def test_a_study_whose_deadline_passed_is_not_ended_at_once_by_it(api: TestClient) -> None:
    """Its first deadline (``timeout_s: 1``, no worker) ended it with no trial done: extended
    with a new time budget it runs its trials; extended without one, the definition's budget
    counts from the extension."""
    body = definition("timed") | {"budget": {"n_trials": 1, "timeout_s": 1}}
    study_id = api.post("/v1/studies", json=body).json()["id"]
    assert ended(api, study_id)["end"]["reason"] == "timeout_s"

    extended = extend(api, study_id, n_trials=1, timeout_s=600)
    assert extended["study"]["definition"]["budget"]["timeout_s"] == 600
    with worker_thread():
        study = ended(api, study_id)
    assert study["status"] == "completed" and done(study) == 2, study
    assert study["end"]["reason"] == "n_trials", study["end"]

    before = utcnow()
    extend(api, study_id, n_trials=1)
    assert _deadline(api, study_id) >= before + timedelta(seconds=600)


def _deadline(api: TestClient, study_id: str) -> datetime:
    with sqlite3.connect(Apps.database_path(api)) as db:
        (stored,) = db.execute(
            "SELECT deadline FROM regtune_studies WHERE id = ?", (study_id,)
        ).fetchone()
    db.close()
    return datetime.fromisoformat(stored)


def test_a_failed_study_cannot_be_extended_and_says_why(apps: Apps) -> None:
    api = apps(objective_factory="tests.objectives:fail_the_first_trial")
    body = definition("broken") | {"budget": {"n_trials": 2, "max_retries": 0}}
    failed = run_to_the_end(api, api.post("/v1/studies", json=body).json()["id"])
    assert failed["status"] == "failed", failed

    refused = api.post(f"/v1/studies/{failed['id']}/extend", json={"n_trials": 5})
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "conflict", error
    assert "has failed" in error["message"] and "would end it again" in error["message"], error
    assert "Submit its definition anew" in error["message"], error
    study = api.get(f"/v1/studies/{failed['id']}").json()
    assert study["status"] == "failed" and study["progress"]["n_trials"] == 2, study


def test_a_study_whose_uploaded_dataset_was_deleted_is_a_409_until_the_file_is_uploaded_again(
    api: TestClient,
) -> None:
    """Deleting a dataset is refused only while a queued or running study uses it: a completed
    study's may go. Extending that study was a 500 (its shape read from no row); it is a 409
    that says what to do, changes nothing, and the same file uploaded again (the same id)
    lets the extension run."""
    upload = {"files": {"file": ("rows.csv", rows_csv())}, "data": {"target": "y"}}
    dataset_id = api.post("/v1/datasets", **upload).json()["id"]
    body = definition("uploaded", 2) | {"dataset": {"id": dataset_id}}
    study = run_to_the_end(api, api.post("/v1/studies", json=body).json()["id"])
    assert study["status"] == "completed" and done(study) == 2, study
    assert api.delete(f"/v1/datasets/{dataset_id}").status_code == 204

    for extension in ({"n_trials": 2}, {"n_trials_total": 5}):
        refused = api.post(f"/v1/studies/{study['id']}/extend", json=extension)
        assert refused.status_code == 409, refused.text
        error = refused.json()["error"]
        assert error["code"] == "conflict", error
        assert f"its dataset {dataset_id!r} was deleted" in error["message"], error
        assert "upload the same file again" in error["message"], error
    kept = api.get(f"/v1/studies/{study['id']}").json()
    assert kept["status"] == "completed" and kept["progress"]["n_trials"] == 2, kept

    assert api.post("/v1/datasets", **upload).json()["id"] == dataset_id
    extended = extend(api, study["id"], n_trials=2)
    assert extended["reopened"] is True, extended
    again = run_to_the_end(api, study["id"])
    assert again["status"] == "completed" and done(again) == 4, again


@pytest.mark.parametrize(
    ("body", "path", "rule"),
    [
        ({"n_trials": 0}, "n_trials", "greater than or equal to 1"),
        ({"n_trials": -1}, "n_trials", "greater than or equal to 1"),
        ({"n_trials": "3"}, "n_trials", "must be a whole number, got the text '3'"),
        ({"n_trials": 2.0}, "n_trials", "valid integer"),
        ({}, "n_trials", "required: give n_trials (how many more) or n_trials_total"),
        ({"timeout_s": 60}, "n_trials", "required: give n_trials (how many more) or"),
        ({"n_trials": 1, "n_trials_total": 3}, "n_trials_total", "not both"),
        ({"n_trials_total": 0}, "n_trials_total", "greater than or equal to 1"),
        ({"n_trials_total": 3.0}, "n_trials_total", "valid integer"),
        ({"n_trials_total": 13}, "n_trials_total", "would be 13, over the 12 that"),
        ({"n_trials": 1, "trials": 2}, "trials", "Extra inputs are not permitted"),
        ({"n_trials": 1, "timeout_s": 0}, "timeout_s", "greater than 0"),
        ({"n_trials": 20}, "n_trials", "over the 12 that REGTUNE_MAX_TRIALS_PER_STUDY allows"),
    ],
)
def test_a_bad_extension_is_a_422_naming_its_field_and_changes_nothing(
    apps: Apps, body: dict[str, Any], path: str, rule: str
) -> None:
    api = apps(max_trials_per_study=12)
    study_id = api.post("/v1/studies", json=definition("kept", 2)).json()["id"]
    refused = api.post(f"/v1/studies/{study_id}/extend", json=body)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "invalid_request", error
    assert [f["path"] for f in error["fields"]] == [path], error
    assert rule in error["fields"][0]["rule"], error
    assert api.get(f"/v1/studies/{study_id}").json()["progress"]["n_trials"] == 2


def test_a_total_budget_can_be_asked_again_and_changes_nothing_the_second_time(
    api: TestClient,
) -> None:
    """``n_trials_total`` is the budget in all, as Katib's ``maxTrialCount``: a request repeated
    after its answer was lost (a dropped connection, ``regtune extend --to`` run twice) leaves
    the budget, the status and the deadline as the first made them; a lower total is a 409."""
    first = run_to_the_end(api, api.post("/v1/studies", json=definition("total", 2)).json()["id"])
    grown = extend(api, first["id"], n_trials_total=4, timeout_s=600)
    assert (grown["n_trials_before"], grown["reopened"], grown["extended"]) == (2, True, True)
    assert grown["study"]["progress"]["n_trials"] == 4, grown["study"]
    deadline = _deadline(api, first["id"])

    again = extend(api, first["id"], n_trials_total=4, timeout_s=900)
    assert (again["n_trials_before"], again["reopened"], again["extended"]) == (4, False, False)
    assert again["study"]["status"] == "queued", again["study"]
    assert again["study"]["definition"]["budget"] == grown["study"]["definition"]["budget"]
    assert _deadline(api, first["id"]) == deadline, "a repeat does not start the deadline again"

    study = run_to_the_end(api, first["id"])
    assert study["status"] == "completed" and done(study) == 4, study
    unchanged = extend(api, first["id"], n_trials_total=4)
    assert (unchanged["reopened"], unchanged["extended"]) == (False, False), unchanged
    assert unchanged["study"]["status"] == "completed", "a completed study is not reopened"
    assert unchanged["study"]["best_model"] == study["best_model"]

    lowered = api.post(f"/v1/studies/{first['id']}/extend", json={"n_trials_total": 3})
    assert lowered.status_code == 409, lowered.text
    assert lowered.json()["error"]["message"] == (
        f"study {first['id']!r} has budget.n_trials 4 already: n_trials_total 3 would lower it, "
        "and a budget only grows"
    ), "completed: no hint to cancel it"
    assert api.get(f"/v1/studies/{first['id']}").json()["progress"]["n_trials"] == 4


def test_a_total_below_the_budget_is_a_409_naming_n_trials_total(api: TestClient) -> None:
    """Was: the 409's ``fields`` was empty, though the field at fault is the one sent."""
    study_id = api.post("/v1/studies", json=definition("lowered", 10)).json()["id"]
    lowered = api.post(f"/v1/studies/{study_id}/extend", json={"n_trials_total": 3})
    assert lowered.status_code == 409, lowered.text
    error = lowered.json()["error"]
    said = (
        f"study {study_id!r} has budget.n_trials 10 already: n_trials_total 3 would lower it, "
        "and a budget only grows (cancel the study to stop it)"
    )
    assert (error["code"], error["message"]) == ("conflict", said)
    assert error["fields"] == [{"path": "n_trials_total", "rule": said}]
    assert api.get(f"/v1/studies/{study_id}").json()["progress"]["n_trials"] == 10


def test_a_budget_the_definition_would_be_refused_for_is_refused_and_changes_nothing(
    api: TestClient,
) -> None:
    """The grown budget is held to what a new definition is admitted by: a grid of 3 × 3
    points, each run once, takes no 12th trial (a GP sampler's memory, which grows with its
    trials, is held the same way), said in the extension's terms (``test_extend_grid``)."""
    grid = {"lambda": {"choices": [0.001, 0.01, 0.1]}, "l1_ratio": {"choices": [0, 0.5, 1]}}
    body = definition("grid", 9) | {"sampler": {"type": "grid", "seed": 0}, "search_space": grid}
    study_id = api.post("/v1/studies", json=body).json()["id"]
    refused = api.post(f"/v1/studies/{study_id}/extend", json={"n_trials": 3})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["message"] == (
        "n_trials: the grid sampler's grid has 9 points, each run once, and budget.n_trials 9 "
        "takes all 9: the grid is exhausted, and n_trials 3 more would run 3 of them again, to "
        "the same result (submit a new study over a larger grid)"
    )
    study = api.get(f"/v1/studies/{study_id}").json()
    assert (study["progress"]["n_trials"], study["definition"]["budget"]["n_trials"]) == (9, 9)


def test_an_unknown_study_or_another_tenants_is_not_found(apps: Apps) -> None:
    api = apps(admin_key=ADMIN)
    admin = {"Authorization": f"Bearer {ADMIN}"}
    study_id = api.post("/v1/studies", json=definition("theirs", 2), headers=admin).json()["id"]
    team = api.post("/v1/keys", json={"tenant": "team-a"}, headers=admin).json()["key"]
    asked = [
        ("/v1/studies/nope/extend", admin),
        (f"/v1/studies/{study_id}/extend", {"Authorization": f"Bearer {team}"}),
    ]
    for path, headers in asked:
        answer = api.post(path, json={"n_trials": 1}, headers=headers)
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"]["code"] == "not_found"
    shown = api.get(f"/v1/studies/{study_id}", headers=admin).json()
    assert shown["progress"]["n_trials"] == 2


def test_an_extension_of_the_row_read_before_the_finish_that_completed_it_is_not_lost(
    apps: Apps, database_url: str
) -> None:
    """The extension's one UPDATE matches the row only as it read it: had a finish completed the
    study in between, it matches nothing (it did not grow a completed study's budget, leaving
    it completed short of it) and the row read again is opened again; on both backends."""
    from regtune.service.store.repos import extension, studies

    api = apps(database_url=database_url)

    study_id = api.post("/v1/studies", json=definition("raced", 2)).json()["id"]
    as_read = studies.read_row_now(study_id)
    assert run_to_the_end(api, study_id)["status"] == "completed"
    assert not extension._grew(as_read, n_trials=3, timeout_s=None, now=utcnow(), engine=None)
    assert api.get(f"/v1/studies/{study_id}").json()["progress"]["n_trials"] == 2

    grown = extension.extend(study_id, n_trials=3)
    assert grown.reopened and grown.row.n_trials == 5
    study = run_to_the_end(api, study_id)
    assert study["status"] == "completed" and done(study) == 5, study


def test_an_api_process_that_saw_the_model_shows_the_next_end_s_after_another_extended_it(
    api: TestClient,
) -> None:
    """Another process extends the study (its UPDATE, without this process being told): this
    one, which remembered the model of the first end, shows none while the study runs again,
    and the next end's once it is saved (was: the first end's, for as long as it ran)."""
    from regtune.service.store.repos import extension, studies

    first = run_to_the_end(
        api, api.post("/v1/studies", json=definition("elsewhere", 2)).json()["id"]
    )
    assert first["best_model"] is not None  # remembered by this process
    row = studies.read_row_now(first["id"])
    assert extension._grew(row, n_trials=6, timeout_s=None, now=utcnow(), engine=None)

    fresh = {"Cache-Control": "no-cache"}
    running = api.get(f"/v1/studies/{first['id']}", headers=fresh).json()
    assert (running["status"], running["best_model"]) == ("queued", None), running
    again = run_to_the_end(api, first["id"])
    assert done(again) == 8 and again["best_model"]["trial"] == again["best_trial"]["number"]
    assert again["best_model"] != first["best_model"]
