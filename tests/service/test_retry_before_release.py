"""A dead worker's slot comes free only once its trial's retry is queued, on both backends.

Failing a stale trial and queuing its retry are two writes. A sweep that released the slot in
between (another idle worker's, at the end of a study all of them sweep at once) let the next
claim run a fresh trial that spent the budget; the retry was then queued on an ended study and
failed unrun ("no finished retry" in tests/e2e/test_pool.py). Here the protocol's steps are
called in that order, by hand: no processes, no sleeps.
"""

from __future__ import annotations

import copy
import os
import socket
import uuid
from collections.abc import Iterator
from datetime import timedelta

import optuna
import pytest
from optuna.trial import TrialState
from sqlalchemy import select, update

from regtune.service.settings import Settings
from regtune.service.spec.definition import StudySpec
from regtune.service.store.clock import utcnow
from regtune.service.store.db import transaction
from regtune.service.store.optuna_db.internals.handles import om
from regtune.service.store.repos.study_creation import create_study
from regtune.service.store.scheduling import workers
from regtune.service.store.scheduling.claims.finishing import finish
from regtune.service.store.scheduling.claims.links import link_trial
from regtune.service.store.scheduling.claims.recovery import release_dead_workers
from regtune.service.store.scheduling.claims.slot import Claim
from regtune.service.store.scheduling.claims.taking import claim
from regtune.service.store.scheduling.retries import (
    hand_back_killed_worker,
    retry_stale_trial,
)
from regtune.service.store.scheduling.sweep import sweep
from regtune.service.store.tables import StudyRow, WorkerRow
from tests.service.stores import Db, opened
from tests.support import wait_until_judging

GRACE = timedelta(seconds=4)
DONE = (TrialState.COMPLETE, TrialState.PRUNED)


@pytest.fixture
def db(database_url: str) -> Iterator[Db]:
    grace = int(GRACE.total_seconds())
    settings = Settings(database_url=database_url, heartbeat_interval=1, grace_period=grace)
    with opened(database_url, settings) as found:
        # the sweeps here are by a process up for the grace period: one started just now
        # judges no heartbeat yet (``outages.steady``)
        wait_until_judging(found.engine, GRACE)
        yield found


def _row(db: Db, study_id: str) -> StudyRow:
    with transaction(db.engine) as session:
        row = session.get(StudyRow, study_id)
    assert row is not None
    return row


def _study(db: Db, n_trials: int) -> tuple[StudyRow, optuna.Study]:
    spec = StudySpec.model_validate(
        {
            "name": f"s-{uuid.uuid4().hex[:8]}",
            "dataset": {"synthetic": {"kind": "sparse_regression"}},
            "task": "regression",
            "budget": {"n_trials": n_trials, "max_parallel": n_trials, "max_retries": 2},
        }
    )
    row = create_study(spec, engine=db.engine, storage=db.storage)
    return row, optuna.load_study(study_name=row.optuna_name, storage=db.storage)


X: dict[str, optuna.distributions.BaseDistribution] = {
    "x": optuna.distributions.FloatDistribution(0, 1)
}


def _killed_mid_trial(db: Db, row: StudyRow, study: optuna.Study) -> int:
    """A worker claims, starts a trial and dies: its row and the trial's heartbeat go stale.

    Returns the trial's id. The study's other slots are then spent on finished trials, so the
    dead worker's slot is the last one (``n_done + n_running = n_trials``).
    """
    past = utcnow() - timedelta(seconds=60)
    workers.register("killed", engine=db.engine)
    taken = claim(db.engine, worker_id="killed", now=past)
    assert taken is not None
    trial = study.ask(X)
    assert link_trial(study._storage, trial._trial_id, taken, db.engine)
    beat = om.TrialHeartbeatModel
    with transaction(db.engine) as session:
        session.execute(update(beat).where(beat.trial_id == trial._trial_id).values(heartbeat=past))
        session.execute(update(WorkerRow).where(WorkerRow.id == "killed").values(last_seen=past))
    for _ in range(row.n_trials - 1):
        _run_claim(db, "alive")
    after = _row(db, row.id)
    assert (after.n_done, after.n_running) == (row.n_trials - 1, 1)
    assert claim(db.engine, worker_id="alive") is None  # the budget is spent but for the dead slot
    return int(trial._trial_id)


def _run_claim(db: Db, worker_id: str) -> optuna.trial.FrozenTrial:
    taken = claim(db.engine, worker_id=worker_id)
    assert taken is not None
    return _run(db, taken)


def _run(db: Db, taken: Claim) -> optuna.trial.FrozenTrial:
    """Run the claim's trial (the WAITING retry if one is queued) and finish the slot."""
    study = optuna.load_study(study_name=taken.optuna_name, storage=db.storage)
    trial = study.ask(X)
    study.tell(trial, 1.0)
    finish(db.engine, claim_id=taken.id, study_id=taken.study_id, seq=taken.seq)
    return study._storage.get_trial(trial._trial_id)


def _fail_stale_trial(study: optuna.Study, trial_id: int) -> None:
    """The first of the two writes of Optuna's ``fail_stale_trials``; the retry comes later."""
    assert study._storage.set_trial_state_values(trial_id, state=TrialState.FAIL)


def _assert_at_rest(db: Db, row: StudyRow, study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    trials = study._storage.get_all_trials(study._study_id, deepcopy=False)
    assert sum(t.state in DONE for t in trials) == row.n_trials
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    final = _row(db, row.id)
    assert (final.status, final.n_done, final.n_running) == ("completed", row.n_trials, 0)
    return trials


def test_a_slot_released_mid_retry_waits_for_the_retry(db: Db) -> None:
    """Sweep A fails the stale trial; sweep B and a claim run before A queues the retry."""
    row, study = _study(db, 3)
    killed = _killed_mid_trial(db, row, study)
    storage = study._storage

    _fail_stale_trial(study, killed)  # sweep A, first write
    release_dead_workers(db.engine, grace=GRACE)  # sweep B (another idle worker's)
    interloper = claim(
        db.engine, worker_id="alive"
    )  # the next claim: a fresh trial, if the slot came free
    if interloper is not None:
        _run(db, interloper)
    retry_stale_trial(study, copy.deepcopy(storage.get_trial(killed)))  # sweep A, second write
    sweep(db.engine, db.storage, grace=GRACE)  # sweep A goes on
    while (taken := claim(db.engine, worker_id="alive")) is not None:
        _run(db, taken)
    sweep(db.engine, db.storage, grace=GRACE)

    trials = _assert_at_rest(db, row, study)
    failed = storage.get_trial(killed)
    retries = [t for t in trials if failed.number in t.system_attrs.get("retry_history", [])]
    assert [(t.state, t.params) for t in retries] == [(TrialState.COMPLETE, failed.params)]
    assert interloper is None, "the slot came free before the retry was queued"


def test_the_slot_comes_free_when_no_retry_follows_within_the_grace_period(db: Db) -> None:
    """Whoever failed the trial died before queuing its retry: the slot is not held forever."""
    row, study = _study(db, 2)
    killed = _killed_mid_trial(db, row, study)
    _fail_stale_trial(study, killed)
    assert release_dead_workers(db.engine, grace=GRACE) == 0
    trials = om.TrialModel
    with transaction(db.engine) as session:
        failed_at = session.scalar(
            select(trials._datetime_complete_utc).where(trials.trial_id == killed)
        )
        assert failed_at is not None
        session.execute(
            update(trials)
            .where(trials.trial_id == killed)
            .values(_datetime_complete_utc=failed_at - 2 * GRACE)
            .execution_options(synchronize_session=False)
        )
    assert release_dead_workers(db.engine, grace=GRACE) == 1
    _run_claim(db, "alive")
    _assert_at_rest(db, row, study)


def test_the_sweeps_own_order_still_frees_the_slot_at_once(db: Db) -> None:
    """A whole sweep (fail, queue the retry, release) gives the slot back in one go."""
    row, study = _study(db, 2)
    killed = _killed_mid_trial(db, row, study)
    assert sweep(db.engine, db.storage, grace=GRACE) == 1
    rerun = _run_claim(db, "alive")
    assert rerun.system_attrs["failed_trial"] == study._storage.get_trial(killed).number
    _assert_at_rest(db, row, study)


def test_a_live_worker_whose_trial_a_sweep_failed_leaves_its_slot_to_the_sweep(db: Db) -> None:
    """A slow worker (its trial's heartbeat lapsed under load) finishes between the sweep's two
    writes: the slot waits for the retry there too."""
    row, study = _study(db, 2)
    storage = study._storage
    past = utcnow() - timedelta(seconds=60)
    workers.register("slow", engine=db.engine)
    taken = claim(db.engine, worker_id="slow", now=past)
    assert taken is not None
    trial = study.ask(X)
    assert link_trial(storage, trial._trial_id, taken, db.engine)
    _run_claim(db, "alive")

    _fail_stale_trial(study, trial._trial_id)  # sweep, first write
    finish(
        db.engine, claim_id=taken.id, study_id=row.id, seq=taken.seq, failed_by_sweep=GRACE
    )  # tell refused: finish
    assert claim(db.engine, worker_id="alive") is None  # the slot waits for the retry
    retry_stale_trial(study, copy.deepcopy(storage.get_trial(trial._trial_id)))  # second write
    assert sweep(db.engine, db.storage, grace=GRACE) == 1
    rerun = _run_claim(db, "alive")
    assert rerun.system_attrs["retry_history"] == [trial.number]
    _assert_at_rest(db, row, study)
    # without a sweep in between, a worker's own finish gives the slot back at once
    other, _ = _study(db, 1)
    mine = claim(db.engine, worker_id="slow")
    assert mine is not None
    finish(db.engine, claim_id=mine.id, study_id=other.id, seq=mine.seq, failed_by_sweep=GRACE)
    assert _row(db, other.id).n_running == 0


def _killed_before_linking(
    db: Db, worker_id: str
) -> tuple[StudyRow, optuna.Study, optuna.trial.Trial]:
    """A worker claims, Optuna sets its trial RUNNING, and the worker dies before ``link_trial``:
    no heartbeat, no link, and the worker silent for longer than the grace period. The study's
    other slot is spent on a finished trial. Returns the study and the trial."""
    row, study = _study(db, 2)
    past = utcnow() - timedelta(seconds=60)
    workers.register(worker_id, engine=db.engine)
    assert claim(db.engine, worker_id=worker_id, now=past) is not None
    started = study.ask(X)
    with transaction(db.engine) as session:
        session.execute(update(WorkerRow).where(WorkerRow.id == worker_id).values(last_seen=past))
    _run_claim(db, "alive")
    return row, study, started


def _a_grace_period_later(db: Db, started: optuna.trial.Trial) -> None:
    """The sweep may fail the trial now: it started longer ago than the settings' grace period
    (which the sweep's judgement of a trial that never beat reads), after its claim was taken
    (a minute ago)."""
    trials = om.TrialModel
    with transaction(db.engine) as session:
        session.execute(
            update(trials)
            .where(trials.trial_id == started._trial_id)
            .values(_datetime_start_utc=utcnow() - timedelta(seconds=59))
            .execution_options(synchronize_session=False)
        )


def test_a_worker_killed_before_it_linked_its_trial_keeps_its_slot_for_its_retry(db: Db) -> None:
    """The worker falls silent a grace period after its last beat, before the sweep may fail
    its trial (a grace period after it started, as it never beat). The slot waits for the
    trial's retry all the same, and the claim that takes it runs the retry, not a fresh trial
    (a failure seen under CI's load, ``tests/e2e/test_interrupted_trials.py``)."""
    row, study, started = _killed_before_linking(db, "killed")
    assert sweep(db.engine, db.storage, grace=GRACE) == 0  # the trial is not stale yet
    assert claim(db.engine, worker_id="alive") is None
    _a_grace_period_later(db, started)
    assert sweep(db.engine, db.storage, grace=GRACE) == 1
    rerun = _run_claim(db, "alive")
    assert rerun.system_attrs["failed_trial"] == started.number
    assert rerun.params == started.params
    _assert_at_rest(db, row, study)
    assert _row(db, row.id).n_errors == 0  # it died running a trial, not before one


def test_a_worker_killed_on_shutdown_before_it_linked_its_trial_leaves_both_to_the_sweep(
    db: Db,
) -> None:
    """``regtune serve`` killed it: a trial linked to no claim may be a live worker's, so the
    hand-back leaves it and its slot to the sweep, which gives the slot to its retry."""
    row, study, started = _killed_before_linking(db, f"shutdown-{uuid.uuid4().hex[:6]}")
    host, pid = socket.gethostname(), os.getpid()
    assert hand_back_killed_worker(host=host, pid=pid, engine=db.engine, storage=db.storage) == 0
    assert claim(db.engine, worker_id="alive") is None
    _a_grace_period_later(db, started)
    assert sweep(db.engine, db.storage, grace=GRACE) == 1
    rerun = _run_claim(db, "alive")
    assert rerun.params == started.params
    _assert_at_rest(db, row, study)
