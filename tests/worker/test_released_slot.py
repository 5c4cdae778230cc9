"""A worker whose slot the sweep gave back while it was silent (paused past its grace period)
neither runs a trial on it nor gives back or counts anything with it once it resumes.

SQLite gives a released claim's id to the next claim taken. A worker resumed after the sweep had
released its claim found that id another worker's: its trial's link to the claim succeeded, and
its finish deleted the other worker's claim, so the study had room again while that worker's
trial still ran, and the resumed worker started a trial beyond the budget (stopped as the study
completed, and counted as a failure). Here the sweep releases the claim and another worker takes
its id in this process, between the silent worker's steps.
"""

from __future__ import annotations

from datetime import timedelta

import optuna
import pytest
from fastapi.testclient import TestClient
from optuna.trial import TrialState
from sqlalchemy import select, update

from regtune.service.store.clock import utcnow
from regtune.service.store.db import transaction
from regtune.service.store.optuna_db.internals.handles import om, trial_id_of
from regtune.service.store.scheduling import workers
from regtune.service.store.scheduling.claims import links, taking
from regtune.service.store.scheduling.claims.slot import Claim
from regtune.service.store.scheduling.retries import get_storage
from regtune.service.store.scheduling.sweep import sweep
from regtune.service.store.tables import ClaimRow, StudyRow, WorkerRow
from regtune.worker.loop import Worker
from tests.inprocess import Apps
from tests.service.test_client_optuna import STUDY


def _start(apps: Apps) -> tuple[TestClient, str, Worker, Claim]:
    """A study of 2 trials and a worker that claimed a slot of it a minute ago (and then went
    silent: the test ages its heartbeat before each sweep)."""
    api = apps(sweep_interval=3600)  # the test's own sweeps only
    body = STUDY | {"name": "released", "budget": {"n_trials": 2, "max_parallel": 2}}
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    silent = Worker()
    workers.register(silent.id, settings=silent.settings)
    taken = taking.claim(worker_id=silent.id, now=utcnow() - timedelta(minutes=1))
    assert taken is not None
    return api, created.json()["id"], silent, taken


def _swept(silent: Worker) -> None:
    """A sweep that finds ``silent`` dead: its worker row and its trials' heartbeats aged."""
    past = utcnow() - timedelta(hours=1)
    with transaction() as session:
        session.execute(update(WorkerRow).where(WorkerRow.id == silent.id).values(last_seen=past))
        session.execute(update(om.TrialHeartbeatModel).values(heartbeat=past))
    sweep()


def _taken_by_another(study_id: str, released: Claim) -> list[Claim]:
    """Another worker takes both slots; the first gets the released claim's id (SQLite)."""
    workers.register("busy")
    taken = [taking.claim(worker_id="busy"), taking.claim(worker_id="busy")]
    assert all(c is not None and c.study_id == study_id for c in taken)
    assert taken[0] is not None and taken[0].id == released.id  # the id, not the claim
    return [c for c in taken if c is not None]


def _held(study_id: str) -> tuple[list[tuple[int, str]], int, int]:
    """The claims (id, worker), ``n_running`` and ``n_errors`` of the study."""
    with transaction() as session:
        claims = session.execute(
            select(ClaimRow.id, ClaimRow.worker_id)
            .where(ClaimRow.study_id == study_id)
            .order_by(ClaimRow.id)
        ).all()
        row = session.get(StudyRow, study_id)
        assert row is not None
        return [(i, w) for i, w in claims], row.n_running, row.n_errors


def test_a_slot_released_before_its_trial_started_runs_no_trial(apps: Apps) -> None:
    _, study_id, silent, released = _start(apps)
    _swept(silent)  # dead before its trial started: the slot back, one error (the sweep's)
    others = _taken_by_another(study_id, released)
    before = _held(study_id)
    assert before == ([(c.id, "busy") for c in others], 2, 1)

    silent._run_claim(released)  # resumed, past its check of the heartbeat

    assert _held(study_id) == before  # the other worker's slots, and no error more
    assert taking.claim(worker_id=silent.id) is None  # the budget is the other worker's
    trials = get_storage().get_all_trials(
        optuna.load_study(study_name=released.optuna_name, storage=get_storage())._study_id
    )
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING], trials
    assert trials[0].user_attrs["error"] == (
        "handed back: the slot was released while the trial started; its parameters run again"
    )


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # the test asks, not ``optimize``
def test_a_slot_released_after_the_sweep_failed_its_trial_is_given_back_once(
    apps: Apps,
) -> None:
    _, study_id, silent, released = _start(apps)
    study = optuna.load_study(study_name=released.optuna_name, storage=get_storage())
    trial = study.ask()
    assert links.link_trial(get_storage(), trial_id_of(trial), released)
    _swept(silent)  # the trial FAILed, its retry queued, the slot back: no error
    others = _taken_by_another(study_id, released)
    before = _held(study_id)
    assert before == ([(c.id, "busy") for c in others], 2, 0)

    # resumed, it finds its trial failed by the sweep, and finishes its slot as such
    silent.finish_claim(released, error=None, failed_by_sweep=True)
    assert _held(study_id) == before
    # nor does an error of its own count, on a slot it no longer holds
    silent.finish_claim(released, error="FloatingPointError: diverged", failed_by_sweep=False)
    assert _held(study_id) == before
    assert taking.claim(worker_id=silent.id) is None
    assert not links.link_trial(get_storage(), trial_id_of(study.ask()), released)
