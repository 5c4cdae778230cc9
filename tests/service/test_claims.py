"""The claim protocol and the storage under it: one conformance suite, run on SQLite and PostgreSQL.

Claimers here are real processes and threads on a real database, and trials are real Optuna
trials in Optuna's own tables; only the training is left out (a trial is told a value at once).
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import optuna
import pytest
from sqlalchemy import func, select, update

from service.settings import get_settings
from service.spec.definition import StudySpec
from service.spec.enums import ACTIVE
from service.store.clock import utcnow
from service.store.db import _sessionmaker, get_engine, make_engine, transaction
from service.store.migrate import upgrade
from service.store.repos.studies import create_study
from service.store.scheduling import claims
from service.store.scheduling import workers as workers
from service.store.scheduling.claims import Claim, claim, finish, release_dead_workers
from service.store.scheduling.retries import get_storage, storage_with_retries
from service.store.scheduling.sweep import sweep
from service.store.tables import ClaimRow, StudyRow, WorkerRow

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _clear_caches() -> None:
    for cached in (get_settings, get_engine, get_storage, _sessionmaker):
        cached.cache_clear()


@pytest.fixture
def db(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """This process (and the claimer processes it spawns) configured for ``database_url``."""
    monkeypatch.setenv("REGTUNE_DATABASE_URL", database_url)
    monkeypatch.setenv("REGTUNE_GRACE_PERIOD", "4")
    _clear_caches()
    upgrade(database_url)
    yield database_url
    get_engine().dispose()
    get_storage().engine.dispose()
    _clear_caches()


def _study(n_trials: int, max_parallel: int, name: str | None = None) -> StudyRow:
    spec = StudySpec.model_validate(
        {
            "name": name or f"s-{uuid.uuid4().hex[:8]}",
            "dataset": {"synthetic": {"kind": "sparse_regression"}},
            "task": "regression",
            "budget": {"n_trials": n_trials, "max_parallel": max_parallel},
        }
    )
    return create_study(spec)


def _row(study_id: str) -> StudyRow:
    with transaction() as session:
        row = session.get(StudyRow, study_id)
    assert row is not None
    return row


def _run_one_trial(storage: optuna.storages.BaseStorage, optuna_name: str, n: int) -> None:
    """One real Optuna trial: COMPLETE, or PRUNED every third time (both count to n_trials)."""
    study = optuna.load_study(study_name=optuna_name, storage=storage)
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    if n % 3 == 2:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    else:
        study.tell(trial, trial.params["x"])


def _claim_until_done(
    url: str, optuna_name: str, worker_id: str, held: Any, peak: Any, lock: Any
) -> int:
    """Claim, run one trial, finish; repeat until no slot is left. Returns the trials run."""
    engine = make_engine(url)
    storage = storage_with_retries(url)
    ran = 0
    try:
        while True:
            taken: Claim | None = claim(engine, worker_id=worker_id)
            if taken is None:
                with transaction(engine) as session:
                    status = session.scalar(
                        select(StudyRow.status).where(StudyRow.optuna_name == optuna_name)
                    )
                if status not in ACTIVE:
                    return ran
                time.sleep(0.01)
                continue
            with lock:
                held.value += 1
                peak.value = max(peak.value, held.value)
            time.sleep(0.02)  # hold the slot a little, so that claimers overlap
            _run_one_trial(storage, optuna_name, ran)
            with lock:
                held.value -= 1
            finish(engine, claim_id=taken.id, study_id=taken.study_id)
            ran += 1
    finally:
        engine.dispose()
        storage.engine.dispose()


def _claimer_process(
    url: str, optuna_name: str, name: str, threads: int, held: Any, peak: Any, lock: Any, out: Any
) -> None:
    results: list[int] = []

    def run(i: int) -> None:
        results.append(_claim_until_done(url, optuna_name, f"{name}-{i}", held, peak, lock))

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.put(sum(results))


def test_exact_budget_and_max_parallel_under_concurrent_claimers(db: str) -> None:
    """3 processes × 2 threads claim one study: exactly n trials, never more than max_parallel."""
    n_trials, max_parallel = 30, 3
    row = _study(n_trials, max_parallel)
    ctx = multiprocessing.get_context("spawn")
    held, peak, lock, out = ctx.Value("i", 0), ctx.Value("i", 0), ctx.Lock(), ctx.Queue()
    seen: list[int] = []
    watching = threading.Event()

    def watch_n_done() -> None:
        while not watching.is_set():
            seen.append(_row(row.id).n_done)
            time.sleep(0.02)

    watcher = threading.Thread(target=watch_n_done)
    watcher.start()
    procs = [
        ctx.Process(
            target=_claimer_process,
            args=(db, row.optuna_name, f"p{i}", 2, held, peak, lock, out),
        )
        for i in range(3)
    ]
    try:
        for p in procs:
            p.start()
        ran = sum(out.get(timeout=240) for _ in procs)
        for p in procs:
            p.join(timeout=60)
            assert p.exitcode == 0
    finally:
        watching.set()
        watcher.join()
        for p in procs:
            if p.is_alive():
                p.kill()

    final = _row(row.id)
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    states = [t.state for t in study.get_trials(deepcopy=False)]
    counted = sum(
        s in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for s in states
    )
    assert ran == n_trials
    assert counted == n_trials == len(states)
    assert final.n_done == n_trials and final.n_running == 0 and final.status == "completed"
    assert final.n_claims == n_trials
    assert 2 <= peak.value <= max_parallel
    assert seen == sorted(seen), "n_done went down"
    with transaction() as session:
        assert session.scalar(select(func.count()).select_from(ClaimRow)) == 0


def test_claims_are_fair_least_recently_served_first(db: str) -> None:
    a, b, c = _study(10, 10, "a"), _study(10, 10, "b"), _study(10, 10, "c")
    t0 = utcnow()
    order = []
    for i in range(9):
        taken = claim(worker_id="w", now=t0 + timedelta(seconds=i))
        assert taken is not None
        order.append(taken.study_id)
    assert order == [a.id, b.id, c.id] * 3
    # A study at its max_parallel is passed over, the others keep being served.
    d = _study(10, 1, "d")
    served = [claim(worker_id="w", now=t0 + timedelta(seconds=20 + i)) for i in range(4)]
    assert [s.study_id for s in served if s] == [d.id, a.id, b.id, c.id]


def test_budget_and_parallel_limits_are_checked_by_the_claim(db: str) -> None:
    row = _study(3, 2)
    first, second = claim(worker_id="w"), claim(worker_id="w")
    assert first is not None and second is not None
    assert claim(worker_id="w") is None  # max_parallel = 2
    _run_one_trial(get_storage(), row.optuna_name, 0)
    finish(claim_id=first.id, study_id=row.id)
    assert _row(row.id).n_done == 1
    third = claim(worker_id="w")
    assert third is not None and third.seq == 3
    assert claim(worker_id="w") is None  # n_done + n_running = 3 = n_trials
    finish(claim_id=first.id, study_id=row.id)  # finishing twice gives nothing back twice
    assert _row(row.id).n_running == 2
    for taken in (second, third):
        _run_one_trial(get_storage(), row.optuna_name, 0)
        finish(claim_id=taken.id, study_id=row.id)
    final = _row(row.id)
    assert (final.n_done, final.n_running, final.status) == (3, 0, "completed")
    assert claim(worker_id="w") is None
    # the budget alone (max_parallel has room): slots in flight count against n_trials
    small = _study(2, 5)
    assert claim(worker_id="w") and claim(worker_id="w")
    assert claim(worker_id="w") is None
    assert _row(small.id).n_running == 2


def _age_worker(worker_id: str, seconds: float) -> None:
    with transaction() as session:
        session.execute(
            update(WorkerRow)
            .where(WorkerRow.id == worker_id)
            .values(last_seen=utcnow() - timedelta(seconds=seconds))
        )


def test_dead_workers_slots_are_released_and_live_ones_kept(db: str) -> None:
    row = _study(10, 10)
    past = utcnow() - timedelta(seconds=30)
    for worker_id in ("dead", "alive"):
        workers.register(worker_id)
    _age_worker("dead", 30)
    dead = claim(worker_id="dead", now=past)
    alive = claim(worker_id="alive", now=past)
    ghost = claim(worker_id="never-registered", now=past)
    young = claim(worker_id="unregistered-just-now")
    assert dead and alive and ghost and young
    assert _row(row.id).n_running == 4

    assert release_dead_workers(grace=timedelta(seconds=4)) == 2
    with transaction() as session:
        held = set(session.scalars(select(ClaimRow.worker_id)))
        registered = set(session.scalars(select(WorkerRow.id)))
    assert held == {"alive", "unregistered-just-now"}
    assert registered == {"alive"}
    assert _row(row.id).n_running == 2
    assert [w.id for w in workers.live()] == ["alive"]
    # The dead worker's late finish must not give the slot back a second time.
    finish(claim_id=dead.id, study_id=row.id)
    assert _row(row.id).n_running == 2


def test_sweep_fails_a_stale_trial_queues_its_retry_and_frees_the_slot(db: str) -> None:
    row = _study(5, 5)
    storage = get_storage()
    workers.register("doomed")
    taken = claim(worker_id="doomed", now=utcnow() - timedelta(seconds=30))
    assert taken is not None
    study = optuna.load_study(study_name=row.optuna_name, storage=storage)
    trial = study.ask({"lambda": optuna.distributions.FloatDistribution(1e-5, 1.0, log=True)})
    storage.record_heartbeat(trial._trial_id)
    om: Any = optuna.storages._rdb.models
    beat = om.TrialHeartbeatModel
    with transaction() as session:
        last = session.scalar(select(beat.heartbeat).where(beat.trial_id == trial._trial_id))
        session.execute(
            update(beat)
            .where(beat.trial_id == trial._trial_id)
            .values(heartbeat=last - timedelta(seconds=60))
        )
    _age_worker("doomed", 30)

    assert sweep() == 1
    trials = optuna.load_study(study_name=row.optuna_name, storage=storage).get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "WAITING"]
    assert trials[1].params == trials[0].params
    assert trials[1].system_attrs["failed_trial"] == trials[0].number
    assert _row(row.id).n_running == 0
    assert claims.claim(worker_id="next") is not None


def test_a_running_trial_keeps_its_slot_until_its_own_heartbeat_lapses(db: str) -> None:
    """A worker whose heartbeat row is stale but whose trial still beats is slow, not dead."""
    row = _study(5, 5)
    storage = get_storage()
    workers.register("slow")
    taken = claim(worker_id="slow", now=utcnow() - timedelta(seconds=30))
    assert taken is not None
    study = optuna.load_study(study_name=row.optuna_name, storage=storage)
    trial = study.ask()
    assert claims.link_trial(storage, trial._trial_id, taken)
    _age_worker("slow", 30)

    assert sweep() == 0  # the trial's heartbeat is fresh: the slot stays taken
    assert _row(row.id).n_running == 1
    study.tell(trial, 1.0)  # the slow worker completes it; only then may the slot go
    assert sweep() == 1
    final = _row(row.id)
    assert (final.n_running, final.n_done) == (0, 1)
    # a claim released before its trial was linked is refused to the trial
    late = claim(worker_id="late", now=utcnow() - timedelta(seconds=30))
    assert late is not None
    assert release_dead_workers(grace=timedelta(seconds=4)) == 1
    assert not claims.link_trial(storage, study.ask()._trial_id, late)
