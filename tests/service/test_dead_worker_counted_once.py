"""A worker that dies holding several slots of a study before its trials start (a fused pass's
members) is one error of the study, not one per slot: one SIGKILL of a worker that had claimed
4 slots failed a study with ``max_retries: 1`` (``n_errors`` 4), though README promises a study
fails only once it has killed ``max_retries + 1`` workers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import optuna
import pytest
from sqlalchemy import Engine

from regtune.service.spec.definition import StudySpec
from regtune.service.store.clock import utcnow
from regtune.service.store.db import make_engine, transaction
from regtune.service.store.migrate import upgrade
from regtune.service.store.optuna_db.internals.handles import trial_id_of
from regtune.service.store.repos.study_creation import create_study
from regtune.service.store.scheduling.claims.links import link_trial
from regtune.service.store.scheduling.claims.recovery import DIED_BEFORE_TRIAL, release_dead_workers
from regtune.service.store.scheduling.claims.taking import claim_slots
from regtune.service.store.scheduling.retries import storage_with_retries
from regtune.service.store.tables import StudyRow

GRACE = timedelta(seconds=4)


@pytest.fixture
def db(database_url: str) -> Iterator[tuple[Engine, optuna.storages.RDBStorage]]:
    upgrade(database_url)
    engine, storage = make_engine(database_url), storage_with_retries(database_url)
    yield engine, storage
    engine.dispose()
    storage.engine.dispose()


def _study(db: tuple[Engine, optuna.storages.RDBStorage], *, max_retries: int) -> StudyRow:
    spec = StudySpec.model_validate(
        {
            "name": f"s-{uuid.uuid4().hex[:8]}",
            "dataset": {"synthetic": {"kind": "sparse_regression"}},
            "task": "regression",
            "budget": {"n_trials": 8, "max_parallel": 4, "max_retries": max_retries},
        }
    )
    engine, storage = db
    return create_study(spec, engine=engine, storage=storage)


def _row(engine: Engine, study_id: str) -> StudyRow:
    with transaction(engine) as session:
        row = session.get(StudyRow, study_id)
    assert row is not None
    return row


def test_a_worker_dead_with_several_unstarted_slots_is_one_error(
    db: tuple[Engine, optuna.storages.RDBStorage],
) -> None:
    engine = db[0]
    row = _study(db, max_retries=1)
    past = utcnow() - timedelta(seconds=60)

    taken = claim_slots(engine, worker_id="fused-1", slots=3, study_id=row.id, now=past)
    assert len(taken) == 3
    assert release_dead_workers(engine, grace=GRACE) == 3
    after = _row(engine, row.id)
    assert (after.n_errors, after.error, after.n_running) == (1, DIED_BEFORE_TRIAL, 0)
    assert after.status != "failed"

    # the second worker it kills is max_retries + 1: the study fails
    assert len(claim_slots(engine, worker_id="fused-2", slots=4, study_id=row.id, now=past)) == 4
    assert release_dead_workers(engine, grace=GRACE) == 4
    after = _row(engine, row.id)
    assert (after.n_errors, after.status) == (2, "failed")


def test_slots_of_one_dead_worker_released_by_two_sweeps_are_one_error(
    db: tuple[Engine, optuna.storages.RDBStorage],
) -> None:
    engine = db[0]
    """A fused pass's further slots are taken a moment after its first: a sweep may find only
    the first past the grace period; the death is counted once, with the last of them."""
    row = _study(db, max_retries=3)
    now = utcnow()
    first = now - timedelta(seconds=60)
    claim_slots(engine, worker_id="fused", slots=1, study_id=row.id, now=first)
    claim_slots(engine, worker_id="fused", slots=3, study_id=row.id, now=now - GRACE / 2)

    assert release_dead_workers(engine, grace=GRACE, now=now) == 1
    assert _row(engine, row.id).n_errors == 0
    assert release_dead_workers(engine, grace=GRACE, now=now + GRACE) == 3
    after = _row(engine, row.id)
    assert (after.n_errors, after.n_running) == (1, 0)


def test_two_dead_workers_are_two_errors(
    db: tuple[Engine, optuna.storages.RDBStorage],
) -> None:
    engine = db[0]
    row = _study(db, max_retries=3)
    past = utcnow() - timedelta(seconds=60)
    claim_slots(engine, worker_id="a", slots=2, study_id=row.id, now=past)
    claim_slots(engine, worker_id="b", slots=2, study_id=row.id, now=past)
    assert release_dead_workers(engine, grace=GRACE) == 4
    assert _row(engine, row.id).n_errors == 2


def test_a_worker_dead_part_way_through_starting_a_fused_pass_is_no_error(
    db: tuple[Engine, optuna.storages.RDBStorage],
) -> None:
    """Killed after its first member's trial started, before the others': the sweep gives the
    three unstarted slots back and keeps the first while its trial runs; the death is that
    trial's (its retry counts it), not also one of the study."""
    engine, storage = db
    row = _study(db, max_retries=3)
    taken = claim_slots(
        engine, worker_id="fused", slots=4, study_id=row.id, now=utcnow() - timedelta(seconds=60)
    )
    study = optuna.load_study(study_name=row.optuna_name, storage=storage)
    trial = study.ask()
    assert link_trial(storage, trial_id_of(trial), taken[0], engine=engine)

    assert release_dead_workers(engine, grace=GRACE) == 3
    after = _row(engine, row.id)
    assert (after.n_errors, after.n_running) == (0, 1)

    # its trial failed (and retried), the last slot comes back: still no error of the study
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    assert release_dead_workers(engine, grace=GRACE, now=utcnow() + 10 * GRACE) == 1
    after = _row(engine, row.id)
    assert (after.n_errors, after.error, after.n_running) == (0, None, 0)
