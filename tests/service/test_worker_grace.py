"""Each worker is judged by its own heartbeat settings, on both backends.

A worker started with ``REGTUNE_HEARTBEAT_INTERVAL=30 REGTUNE_GRACE_PERIOD=90`` beside an API at
the defaults (5 s, 20 s) lost every trial: the API's sweep failed them as stale after 20 s of
silence, retried them, and ended the study with "the worker running it died 3 times" while the
worker was alive. A worker now records its grace period when it registers, and the sweep judges
its trials, its slots and its row by it.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from sqlalchemy import inspect, select, text, update

from regtune.service.settings import Settings
from regtune.service.spec.definition import StudySpec
from regtune.service.store import outages
from regtune.service.store.clock import utcnow
from regtune.service.store.db import make_engine, transaction
from regtune.service.store.migrate import upgrade
from regtune.service.store.optuna_db.internals.handles import om
from regtune.service.store.repos.study_creation import create_study
from regtune.service.store.scheduling import workers
from regtune.service.store.scheduling.claims.links import link_trial
from regtune.service.store.scheduling.claims.taking import claim
from regtune.service.store.scheduling.sweep import sweep
from regtune.service.store.tables import StudyRow, WorkerRow
from tests.service.stores import Db, opened
from tests.service.test_schema_privileges import _downgrade
from tests.support import Processes, process_env, regtune, wait_for

SWEEPER = timedelta(seconds=20)
"""The API's grace period: the default."""
SLOW = Settings(heartbeat_interval=30, grace_period=90)
"""The worker's own heartbeat settings, valid on their own."""
X: dict[str, optuna.distributions.BaseDistribution] = {
    "x": optuna.distributions.FloatDistribution(0, 1)
}


@pytest.fixture
def db(database_url: str) -> Iterator[Db]:
    with opened(database_url) as found:
        yield found


def _sweep(db: Db, monkeypatch: pytest.MonkeyPatch, *, reached: float = math.inf) -> int:
    """The API's sweep, by a process that has reached the database for ``reached`` seconds."""
    monkeypatch.setattr(outages, "reached_for", lambda engine: reached)
    return sweep(db.engine, db.storage, grace=SWEEPER)


def _running_trial(db: Db, worker_id: str, settings: Settings | None) -> tuple[str, int]:
    """A study whose one slot ``worker_id`` (registered with ``settings``) runs a trial in →
    (the study's id, the trial's id)."""
    spec = StudySpec.model_validate(
        {
            "name": f"s-{uuid.uuid4().hex[:8]}",
            "dataset": {"synthetic": {"kind": "sparse_regression"}},
            "task": "regression",
            "budget": {"n_trials": 3, "max_parallel": 1, "max_retries": 2},
        }
    )
    row = create_study(spec, engine=db.engine, storage=db.storage)
    workers.register(worker_id, engine=db.engine, settings=settings)
    taken = claim(db.engine, worker_id=worker_id, now=utcnow() - timedelta(seconds=200))
    assert taken is not None
    study = optuna.load_study(study_name=row.optuna_name, storage=db.storage)
    trial = study.ask(X)
    assert link_trial(study._storage, trial._trial_id, taken, db.engine)
    return row.id, trial._trial_id


def _silent_for(db: Db, worker_id: str, trial_id: int, seconds: float) -> None:
    """The worker's last heartbeat, and its trial's, ``seconds`` ago."""
    then = utcnow() - timedelta(seconds=seconds)
    beat = om.TrialHeartbeatModel
    with transaction(db.engine) as session:
        session.execute(update(beat).where(beat.trial_id == trial_id).values(heartbeat=then))
        session.execute(update(WorkerRow).where(WorkerRow.id == worker_id).values(last_seen=then))


def _state(db: Db, study_id: str, trial_id: int) -> tuple[TrialState, int, bool]:
    """The trial's state, the study's running slots and whether the worker row is there."""
    with transaction(db.engine) as session:
        row = session.get(StudyRow, study_id)
        assert row is not None
        listed = session.scalar(select(WorkerRow.id).where(WorkerRow.id == "slow")) is not None
        running = row.n_running
    return db.storage.get_trial(trial_id).state, running, listed


def _optuna_name(db: Db, study_id: str) -> str:
    with transaction(db.engine) as session:
        row = session.get(StudyRow, study_id)
        assert row is not None
        return row.optuna_name


def test_a_worker_is_judged_by_its_own_grace_period_not_the_sweepers(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    study_id, trial_id = _running_trial(db, "slow", SLOW)
    _silent_for(db, "slow", trial_id, 40)  # past the API's 20 s, within the worker's 90 s
    assert _sweep(db, monkeypatch) == 0
    assert _state(db, study_id, trial_id) == (TrialState.RUNNING, 1, True)
    # `regtune workers` lists it: it is alive by its own account
    assert [w.id for w in workers.live(engine=db.engine)] == ["slow"]

    _silent_for(db, "slow", trial_id, 100)  # past its own grace period: it died
    assert workers.live(engine=db.engine) == []
    assert _sweep(db, monkeypatch) == 1
    assert _state(db, study_id, trial_id) == (TrialState.FAIL, 0, False)
    study = optuna.load_study(study_name=_optuna_name(db, study_id), storage=db.storage)
    retries = [t for t in study.get_trials() if t.state == TrialState.WAITING]
    assert len(retries) == 1  # retried with the same parameters, as any dead worker's trial


def test_a_worker_row_without_a_grace_period_is_judged_by_the_sweepers(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row an older regtune wrote (no heartbeat settings) falls back on the sweeper's."""
    study_id, trial_id = _running_trial(db, "slow", None)
    _silent_for(db, "slow", trial_id, 10)
    assert _sweep(db, monkeypatch) == 0
    assert _state(db, study_id, trial_id) == (TrialState.RUNNING, 1, True)
    _silent_for(db, "slow", trial_id, 30)
    assert _sweep(db, monkeypatch) == 1
    assert _state(db, study_id, trial_id) == (TrialState.FAIL, 0, False)


def test_a_worker_is_judged_only_once_the_sweeper_saw_its_grace_period_pass(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After an outage the sweeper judges a worker's silence only once it has itself reached the
    database for that worker's grace period: a worker beating every 30 s may not have beaten
    again 25 s after the database came back, though its last beat is older than 90 s."""
    study_id, trial_id = _running_trial(db, "slow", SLOW)
    _silent_for(db, "slow", trial_id, 120)
    assert _sweep(db, monkeypatch, reached=25) == 0
    assert _state(db, study_id, trial_id) == (TrialState.RUNNING, 1, True)
    assert _sweep(db, monkeypatch, reached=95) == 1
    assert _state(db, study_id, trial_id) == (TrialState.FAIL, 0, False)


def test_a_worker_registers_its_own_heartbeat_settings(
    processes: Processes, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'regtune.db'}"
    env = process_env(url, REGTUNE_HEARTBEAT_INTERVAL="2", REGTUNE_GRACE_PERIOD="7")
    worker = processes.start(regtune("worker"), env, "worker.log")
    engine = make_engine(url)
    try:

        def registered() -> tuple[int | None, int | None] | None:
            if not inspect(engine).has_table("regtune_workers"):
                return None
            with engine.connect() as connection:
                row = connection.execute(
                    text("SELECT heartbeat_interval, grace_period FROM regtune_workers")
                ).first()
            return None if row is None else (row[0], row[1])

        assert wait_for(registered, timeout=120, what="the worker's row") == (2, 7)
    finally:
        engine.dispose()
        worker.stop()


def test_the_migration_adds_the_heartbeat_columns_and_takes_them_away_again(
    database_url: str,
) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    columns = {"heartbeat_interval", "grace_period"}

    def found() -> set[str]:
        with engine.connect() as connection:
            names = {c["name"] for c in inspect(connection).get_columns("regtune_workers")}
        return names & columns

    try:
        assert found() == columns
        _downgrade(database_url, "0006")
        assert found() == set()
        with engine.begin() as connection:  # a worker an older regtune registered
            connection.execute(
                text(
                    "INSERT INTO regtune_workers (id, host, pid, started_at, last_seen) "
                    "VALUES ('old', 'h', 1, :now, :now)"
                ),
                {"now": utcnow()},
            )
        upgrade(database_url)
        assert found() == columns
        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT id, heartbeat_interval, grace_period FROM regtune_workers")
            ).one()
        assert tuple(row) == ("old", None, None)  # judged by the sweeper's grace period
    finally:
        engine.dispose()
