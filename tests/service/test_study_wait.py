"""``GET /v1/studies/{id}?wait=``: the answer held until the study has ended and its best model
is saved, so a client waiting for the end asks once instead of polling; and the client's
``wait`` asking that way."""

from __future__ import annotations

import contextvars
import io
import threading
import time

import pytest
from fastapi.testclient import TestClient

import regtune
from tests.definitions import DIVERGING
from tests.inprocess import Apps
from tests.service.test_client_optuna import STUDY, ThroughApp
from tests.support import changed, sql_run


def _worker_until_stopped() -> tuple[threading.Thread, threading.Event]:
    from regtune.worker.loop import Worker

    worker = Worker()
    thread = threading.Thread(target=contextvars.copy_context().run, args=(worker.run,))
    thread.start()
    return thread, worker.stopping


def test_a_held_answer_comes_once_the_study_ended_and_its_model_is_saved(
    api: TestClient,
) -> None:
    study_id = api.post("/v1/studies", json=STUDY).json()["id"]
    thread, stopping = _worker_until_stopped()
    try:  # one request, while the worker runs the whole study and saves its model
        held = api.get(f"/v1/studies/{study_id}", params={"wait": 60})
    finally:
        stopping.set()
        thread.join(timeout=60)
    assert held.status_code == 200
    body = held.json()
    assert body["status"] == "completed" and body["progress"]["done"] == 3
    assert body["best_model"] is not None


def test_a_hold_that_runs_out_answers_the_study_as_it_is(api: TestClient) -> None:
    study_id = api.post("/v1/studies", json=STUDY).json()["id"]  # no worker: it stays queued
    held = api.get(f"/v1/studies/{study_id}", params={"wait": 0.2})
    assert held.status_code == 200 and held.json()["status"] == "queued"


@pytest.mark.parametrize("wait", ["0", "-1", "61", "soon"])
def test_a_hold_outside_its_bounds_is_refused_naming_the_parameter(
    api: TestClient, wait: str
) -> None:
    study_id = api.post("/v1/studies", json=STUDY).json()["id"]
    refused = api.get(f"/v1/studies/{study_id}", params={"wait": wait})
    assert refused.status_code == 422
    assert "wait" in refused.text


@pytest.mark.parametrize("wait", ["nan", "NaN", "inf", "-inf", "1e400"])
def test_a_hold_of_no_finite_number_is_refused_as_that(api: TestClient, wait: str) -> None:
    """``?wait=nan`` was refused as "less than or equal to 60"."""
    study_id = api.post("/v1/studies", json=STUDY).json()["id"]
    refused = api.get(f"/v1/studies/{study_id}", params={"wait": wait})
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"] == [
        {"path": "wait", "rule": "Input should be a finite number"}
    ]


def test_the_clients_wait_sees_the_end_through_held_answers(api: TestClient) -> None:
    seen: list[str] = []
    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as client:
        study = client.submit(STUDY)
        thread, stopping = _worker_until_stopped()
        try:
            done = client.wait(
                study.id, poll=30, timeout=600, on_update=lambda s: seen.append(s.status)
            )
        finally:
            stopping.set()
            thread.join(timeout=60)
    assert done.status == "completed" and done.best_model is not None
    assert seen == ["completed"]  # one answer, held from submission to the saved model


def test_watching_outside_a_terminal_prints_whole_lines_to_the_end(api: TestClient) -> None:
    """``regtune submit --watch`` in a CI log or a pipe: no bar to redraw, so lines of the
    progress, none cut to the log's width, the last one the study completed with its best."""
    from rich.console import Console

    from regtune.service.client.watch import watch

    log = io.StringIO()
    console = Console(file=log, width=40)
    assert not console.is_terminal
    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as client:
        study = client.submit(STUDY)
        thread, stopping = _worker_until_stopped()
        try:
            done = watch(client, study, console=console, poll=30)
        finally:
            stopping.set()
            thread.join(timeout=60)
    assert done.status == "completed" and done.best_trial is not None
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("notebook 0/3 · complete 0 · pruned 0 · failed 0 · running 0")
    assert lines[0].split(" · ")[-2] == "queued"
    best = f"best val_loss {done.best_trial.value:.6g} (#{done.best_trial.number})"
    assert lines[-1].startswith(
        f"notebook 3/3 · complete 3 · pruned 0 · failed 0 · running 0 · {best} · completed · 0:"
    )
    assert "\x1b[" not in log.getvalue(), log.getvalue()


def _row_reads(seen: list[str]) -> list[str]:
    """The statements that read regtune's study rows."""
    return [statement for statement in seen if "FROM regtune_studies" in statement]


def test_on_sqlite_a_held_answer_reads_the_row_again_only_after_a_commit(apps: Apps) -> None:
    from regtune.service.store.repos import cancel_and_delete, studies

    api = apps(sweep_interval=60)  # no sweep's lease to renew, no worker: nothing commits
    study_id = api.post("/v1/studies", json=STUDY).json()["id"]
    with sql_run() as seen:
        held = api.get(f"/v1/studies/{study_id}", params={"wait": 1.0})
    assert held.json()["status"] == "queued"
    looks = 1.0 / studies.held_interval()
    assert looks >= 40  # it looked every 20 ms ...
    assert (
        len(_row_reads(seen)) <= 2
    )  # ... and read the row once (a period's reads: 1 s / 50 ms = 20)

    def cancel_soon() -> None:  # a commit on a connection of its own, as another process's
        time.sleep(0.3)
        cancel_and_delete.cancel(study_id)

    canceller = threading.Thread(target=cancel_soon)
    canceller.start()
    with sql_run() as seen:
        held = api.get(f"/v1/studies/{study_id}", params={"wait": 30})
    canceller.join()
    assert held.json()["status"] == "cancelled"  # seen at the commit, not at the hold's end
    assert 1 <= len(_row_reads(seen)) <= 4


def test_a_wait_that_runs_out_says_what_it_waited_for_and_what_it_saw_last(
    api: TestClient,
) -> None:
    """A wait that timed out said ``study … still completed after 1s``: nothing of the best
    model it was really waiting for. Queued, it says the study did not end; completed with its
    model not saved (the lease is held by someone else here, as by a worker that died while
    retraining), that the study completed and the model is what is missing."""
    from regtune.service.store.repos import model_lease, studies
    from regtune.worker.loop import Worker

    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as client:
        study = client.submit(STUDY)
        with pytest.raises(TimeoutError) as queued:
            client.wait(study.id, timeout=0.2, poll=0.1)
        assert str(queued.value) == (
            f"study {study.id} did not end within 0.2s: last seen queued, 0/3 trials done, "
            "0 running"
        )
        osid = studies.get_row(study.id).optuna_study_id
        assert osid is not None and model_lease.take_lease(osid, "another-worker")
        assert contextvars.copy_context().run(Worker().run, max_trials=3) == 3
        with pytest.raises(TimeoutError) as unsaved:
            client.wait(study.id, timeout=0.2, poll=0.1)
        best = client.study(study.id).best_trial
    assert best is not None
    assert str(unsaved.value) == (
        f"study {study.id} has completed, but its best model was not saved within 0.2s (a "
        f"worker retrains best trial #{best.number} once the study completes; is one running?): "
        "last seen completed, 3/3 trials done, 0 running, no best model yet"
    )


def test_a_wait_on_a_study_whose_trials_all_diverged_ends_with_the_reason_it_has_no_model(
    api: TestClient,
) -> None:
    """``regtune submit --watch`` of a study whose trials all diverged ended at "completed",
    before the worker said why there is no model: its summary had no error line and said
    nothing of the missing model (``regtune show`` said it a moment later). The wait, like a
    model's, lasts until the worker has said so (held here by another worker's lease on the
    study's model, as while a worker is deciding), and ends with the reason."""
    from regtune.service.store.repos import model_lease, studies, study_summary
    from regtune.worker.best_model import save_best_model
    from regtune.worker.loop import Worker

    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as client:
        study = client.submit(changed(DIVERGING, name="diverging-watched"))
        osid = studies.get_row(study.id).optuna_study_id
        assert osid is not None and model_lease.take_lease(osid, "another-worker")
        assert contextvars.copy_context().run(Worker().run, max_trials=1) == 1
        ended = client.study(study.id, fresh=True)
        assert ended.status == "completed" and ended.best_trial is None and ended.error is None
        assert not study_summary.settled(studies.get_row(study.id))  # a held answer waits on
        with pytest.raises(TimeoutError) as unsaid:
            client.wait(study.id, timeout=0.2, poll=0.1)
        assert "a worker says why its trials give no model" in str(unsaid.value)

        model_lease.release_lease(osid, "another-worker")
        contextvars.copy_context().run(save_best_model, study.id)
        done = client.wait(study.id, timeout=30, poll=0.1)
    assert done.best_trial is None and done.best_model is None
    assert done.error is not None and "no best model" in done.error


ALL_PRUNED = changed(
    DIVERGING,
    name="all-pruned-watched",
    search_space={"lambda": 1e-6, "l1_ratio": 0.5, "learning_rate": 0.01},
    pruner={"type": "threshold", "upper": 1e-9},  # no epoch's val_rmse is that low
)
"""Its one trial is pruned at its first epoch: the study completes with no COMPLETE trial."""


def test_a_wait_on_a_study_whose_trials_were_all_pruned_ends_with_the_reason_it_has_no_model(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``regtune submit --watch`` of a study whose every trial was pruned ended at "completed"
    before the worker said why there is no model (with no COMPLETE trial, the wait did not wait
    for that word): no error line, exit 0, and ``regtune show`` had the error a moment later.
    The wait lasts until the worker has said so (held here by another worker's lease, as while
    it decides), and ends with the reason; a study that will never get the word (no worker is
    left to say it) ends the wait after ``VERDICT_GRACE``, not at its timeout."""
    from regtune.service.client import waiting
    from regtune.service.store.repos import model_lease, studies
    from regtune.worker.best_model import save_best_model
    from regtune.worker.loop import Worker

    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as client:
        study = client.submit(ALL_PRUNED)
        osid = studies.get_row(study.id).optuna_study_id
        assert osid is not None and model_lease.take_lease(osid, "another-worker")
        assert contextvars.copy_context().run(Worker().run, max_trials=1) == 1
        ended = client.study(study.id, fresh=True)
        assert ended.status == "completed" and ended.counts["PRUNED"] == 1, ended.counts
        assert not ended.counts["COMPLETE"]
        assert ended.error is None
        with pytest.raises(TimeoutError) as unsaid:
            client.wait(study.id, timeout=0.2, poll=0.1)
        assert "a worker says why its trials give no model" in str(unsaid.value)

        monkeypatch.setattr(waiting, "VERDICT_GRACE", 0.3)
        unsaid_for_good = client.wait(study.id, timeout=600, poll=0.1)
        assert unsaid_for_good.status == "completed" and unsaid_for_good.error is None

        model_lease.release_lease(osid, "another-worker")
        contextvars.copy_context().run(save_best_model, study.id)
        done = client.wait(study.id, timeout=30, poll=0.1)
    assert done.best_trial is None and done.best_model is None
    assert done.error is not None and done.error.startswith("no best model: no COMPLETE trial")


@pytest.mark.parametrize(
    ("trials_run", "why"),
    [
        (1, "every trial diverged, was pruned or was infeasible"),
        (0, "no trial finished before the study ended"),
        (-1, "every trial that finished failed: its error says why"),
    ],
)
def test_a_study_its_deadline_completed_with_no_complete_trial_gets_the_word_from_an_idle_worker(
    api: TestClient, trials_run: int, why: str
) -> None:
    """A study whose one trial so far was pruned (or with no trial yet, or one that failed:
    here its count alone), completed by its
    deadline passing with no trial running (the sweep's doing, not a worker's finish): no
    worker said why it has no model, and the idle workers' catch-up looked only at studies with
    a COMPLETE trial, so its ``error`` stayed empty for good and a wait ended after
    ``VERDICT_GRACE`` with no error line. An idle worker's catch-up now says it, as the
    finishing worker would have."""
    from datetime import timedelta

    from sqlalchemy import update

    from regtune.service.store.clock import utcnow
    from regtune.service.store.db import transaction
    from regtune.service.store.tables import StudyRow
    from regtune.worker.loop import Worker

    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as client:
        study = client.submit(
            changed(ALL_PRUNED, name="deadline-pruned", budget={"n_trials": 3, "max_parallel": 1})
        )
        if trials_run > 0:
            assert contextvars.copy_context().run(Worker().run, max_trials=trials_run) == 1
        running = client.study(study.id, fresh=True)
        assert running.counts["PRUNED"] == max(trials_run, 0), running.counts
        if trials_run < 0:  # its one trial failed, within budget.max_retries
            with transaction() as session:
                session.execute(update(StudyRow).where(StudyRow.id == study.id).values(n_errors=1))
        with transaction() as session:  # its deadline (budget.timeout_s) passes
            session.execute(
                update(StudyRow)
                .where(StudyRow.id == study.id)
                .values(deadline=utcnow() - timedelta(seconds=1))
            )

        idle = Worker()
        contextvars.copy_context().run(idle._sweep)  # completes it, then catches up
        done = client.wait(study.id, timeout=30, poll=0.1)
    assert done.status == "completed" and not done.counts["COMPLETE"], done.counts
    assert done.best_model is None
    assert done.error is not None and done.error.startswith("no best model: no COMPLETE trial")
    assert done.error.endswith(f"({why})"), done.error
