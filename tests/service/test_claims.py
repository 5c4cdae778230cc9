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
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import optuna
import pytest
from sqlalchemy import Engine, func, select, update

from regtune.service.spec.definition import StudySpec
from regtune.service.spec.enums import ACTIVE
from regtune.service.store.clock import utcnow
from regtune.service.store.db import make_engine, transaction
from regtune.service.store.migrate import upgrade
from regtune.service.store.optuna_db.attrs import CLAIM_ATTR, PATH_CLAIM_PREFIX, RETRY_OF_ATTR
from regtune.service.store.optuna_db.internals.handles import om, trial_id_of
from regtune.service.store.repos.study_creation import create_study
from regtune.service.store.scheduling import paths
from regtune.service.store.scheduling import workers as workers
from regtune.service.store.scheduling.claims import links, taking
from regtune.service.store.scheduling.claims.finishing import finish
from regtune.service.store.scheduling.claims.recovery import release_dead_workers
from regtune.service.store.scheduling.claims.slot import Claim, path_claim_key
from regtune.service.store.scheduling.claims.taking import claim
from regtune.service.store.scheduling.retries import storage_with_retries
from regtune.service.store.scheduling.sweep import sweep
from regtune.service.store.tables import ClaimRow, StudyRow, WorkerRow
from tests.support import wait_until_judging

optuna.logging.set_verbosity(optuna.logging.WARNING)
SWEEP_GRACE = timedelta(seconds=2)


@dataclass
class Db:
    """The database under test, handed to every call: nothing reads the process's settings."""

    url: str
    engine: Engine
    storage: optuna.storages.RDBStorage


@pytest.fixture
def db(database_url: str) -> Iterator[Db]:
    upgrade(database_url)
    found = Db(database_url, make_engine(database_url), storage_with_retries(database_url))
    yield found
    found.engine.dispose()
    found.storage.engine.dispose()


def _study(
    db: Db, n_trials: int, max_parallel: int, name: str | None = None, *, max_retries: int = 2
) -> StudyRow:
    spec = StudySpec.model_validate(
        {
            "name": name or f"s-{uuid.uuid4().hex[:8]}",
            "dataset": {"synthetic": {"kind": "sparse_regression"}},
            "task": "regression",
            "budget": {
                "n_trials": n_trials,
                "max_parallel": max_parallel,
                "max_retries": max_retries,
            },
        }
    )
    return create_study(spec, engine=db.engine, storage=db.storage)


def _row(db: Db, study_id: str) -> StudyRow:
    with transaction(db.engine) as session:
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
            finish(engine, claim_id=taken.id, study_id=taken.study_id, seq=taken.seq)
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


def test_exact_budget_and_max_parallel_under_concurrent_claimers(
    db: Db, spawn: multiprocessing.context.SpawnContext
) -> None:
    """3 processes × 2 threads claim one study: exactly n trials, never more than max_parallel."""
    n_trials, max_parallel = 30, 3
    row = _study(db, n_trials, max_parallel)
    ctx = spawn
    held, peak, lock, out = ctx.Value("i", 0), ctx.Value("i", 0), ctx.Lock(), ctx.Queue()
    seen: list[int] = []
    watching = threading.Event()

    def watch_n_done() -> None:
        while not watching.is_set():
            seen.append(_row(db, row.id).n_done)
            time.sleep(0.02)

    watcher = threading.Thread(target=watch_n_done)
    watcher.start()
    procs = [
        ctx.Process(
            target=_claimer_process,
            args=(db.url, row.optuna_name, f"p{i}", 2, held, peak, lock, out),
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

    final = _row(db, row.id)
    study = optuna.load_study(study_name=row.optuna_name, storage=db.storage)
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
    with transaction(db.engine) as session:
        assert session.scalar(select(func.count()).select_from(ClaimRow)) == 0


def test_claims_are_fair_least_recently_served_first(db: Db) -> None:
    a, b, c = _study(db, 10, 10, "a"), _study(db, 10, 10, "b"), _study(db, 10, 10, "c")
    t0 = utcnow()
    order = []
    for i in range(9):
        taken = claim(engine=db.engine, worker_id="w", now=t0 + timedelta(seconds=i))
        assert taken is not None
        order.append(taken.study_id)
    assert order == [a.id, b.id, c.id] * 3
    # A study at its max_parallel is passed over, the others keep being served.
    d = _study(db, 10, 1, "d")
    served = [
        claim(engine=db.engine, worker_id="w", now=t0 + timedelta(seconds=20 + i)) for i in range(4)
    ]
    assert [s.study_id for s in served if s] == [d.id, a.id, b.id, c.id]


def test_budget_and_parallel_limits_are_checked_by_the_claim(db: Db) -> None:
    row = _study(db, 3, 2)
    first, second = claim(engine=db.engine, worker_id="w"), claim(engine=db.engine, worker_id="w")
    assert first is not None and second is not None
    assert claim(engine=db.engine, worker_id="w") is None  # max_parallel = 2
    _run_one_trial(db.storage, row.optuna_name, 0)
    finish(engine=db.engine, claim_id=first.id, study_id=row.id, seq=first.seq)
    assert _row(db, row.id).n_done == 1
    third = claim(engine=db.engine, worker_id="w")
    assert third is not None and third.seq == 3
    assert claim(engine=db.engine, worker_id="w") is None  # n_done + n_running = 3 = n_trials
    # finishing twice gives nothing back twice
    finish(engine=db.engine, claim_id=first.id, study_id=row.id, seq=first.seq)
    assert _row(db, row.id).n_running == 2
    for taken in (second, third):
        _run_one_trial(db.storage, row.optuna_name, 0)
        finish(engine=db.engine, claim_id=taken.id, study_id=row.id, seq=taken.seq)
    final = _row(db, row.id)
    assert (final.n_done, final.n_running, final.status) == (3, 0, "completed")
    assert claim(engine=db.engine, worker_id="w") is None
    # the budget alone (max_parallel has room): slots in flight count against n_trials
    small = _study(db, 2, 5)
    assert claim(engine=db.engine, worker_id="w") and claim(engine=db.engine, worker_id="w")
    assert claim(engine=db.engine, worker_id="w") is None
    assert _row(db, small.id).n_running == 2


def test_a_trial_told_outside_regtune_is_counted_by_the_next_sweep(db: Db) -> None:
    """A worker's told trial counts itself (``n_done + 1``, no count of the study); one told
    some other way (optuna-dashboard's tell, Optuna itself) is counted by the sweep, and a study
    whose budget it spent completes there."""
    row = _study(db, 2, 2)
    _run_one_trial(db.storage, row.optuna_name, 0)  # no claim, no finish
    assert _row(db, row.id).n_done == 0
    assert release_dead_workers(db.engine, grace=timedelta(seconds=60)) == 0
    assert (_row(db, row.id).n_done, _row(db, row.id).status) == (1, "queued")
    _run_one_trial(db.storage, row.optuna_name, 1)
    release_dead_workers(db.engine, grace=timedelta(seconds=60))
    assert (_row(db, row.id).n_done, _row(db, row.id).status) == (2, "completed")
    assert claim(engine=db.engine, worker_id="w") is None


def test_several_slots_of_one_study_are_taken_within_its_budget_and_parallel_limit(
    db: Db,
) -> None:
    row = _study(db, 5, 3)
    taken = taking.claim_slots(db.engine, worker_id="w", slots=4)
    assert [t.study_id for t in taken] == [row.id] * 3  # max_parallel = 3
    assert len({t.id for t in taken}) == 3 and [t.seq for t in taken] == [1, 2, 3]
    assert taking.claim_slots(db.engine, worker_id="w", slots=2) == []
    for t in taken:
        _run_one_trial(db.storage, row.optuna_name, 0)
        finish(engine=db.engine, claim_id=t.id, study_id=row.id, seq=t.seq)
    # the budget: 3 done, 2 left, whatever was asked
    rest = taking.claim_slots(db.engine, worker_id="w", slots=8)
    assert len(rest) == 2 and _row(db, row.id).n_running == 2
    # each slot is its own claim: a dead worker's slots go back one by one
    later = utcnow() + timedelta(seconds=60)  # "w" never registered: it counts as dead
    assert release_dead_workers(db.engine, grace=timedelta(seconds=30), now=later) == 2
    assert _row(db, row.id).n_running == 0
    with pytest.raises(ValueError, match="slots"):
        taking.claim_slots(db.engine, worker_id="w", slots=0)


def test_more_slots_of_a_named_study_come_from_that_study_only(db: Db) -> None:
    """A worker that read a fused study's definition tops its claim up with that study's slots,
    never another's, within its budget and parallel limit."""
    first = _study(db, 3, 4, "first")
    other = _study(db, 10, 10, "other")
    (taken,) = taking.claim_slots(db.engine, worker_id="w", slots=1, study_id=first.id)
    assert taken.study_id == first.id
    more = taking.claim_slots(db.engine, worker_id="w", slots=8, study_id=first.id)
    assert [t.study_id for t in more] == [first.id] * 2  # the budget: 3 in all
    assert taking.claim_slots(db.engine, worker_id="w", slots=1, study_id=first.id) == []
    assert _row(db, first.id).n_running == 3 and _row(db, other.id).n_running == 0


def _silence(db: Db, trial_id: int) -> None:
    """The trial's heartbeat a minute old: the next sweep fails it as stale."""
    beat = om.TrialHeartbeatModel
    with transaction(db.engine) as session:
        session.execute(
            update(beat)
            .where(beat.trial_id == trial_id)
            .values(heartbeat=utcnow() - timedelta(seconds=60))
        )


def _sweep(db: Db, storage: optuna.storages.RDBStorage | None = None) -> int:
    """A sweep by a process that has been reaching the database for its grace period: one
    started just now judges no heartbeat yet (``outages.steady``)."""
    wait_until_judging(db.engine, SWEEP_GRACE)
    return sweep(engine=db.engine, storage=storage or db.storage, grace=SWEEP_GRACE)


def _age_worker(db: Db, worker_id: str, seconds: float) -> None:
    with transaction(db.engine) as session:
        session.execute(
            update(WorkerRow)
            .where(WorkerRow.id == worker_id)
            .values(last_seen=utcnow() - timedelta(seconds=seconds))
        )


def test_dead_workers_slots_are_released_and_live_ones_kept(db: Db) -> None:
    row = _study(db, 10, 10)
    past = utcnow() - timedelta(seconds=30)
    for worker_id in ("dead", "alive"):
        workers.register(worker_id, engine=db.engine)
    _age_worker(db, "dead", 30)
    dead = claim(engine=db.engine, worker_id="dead", now=past)
    alive = claim(engine=db.engine, worker_id="alive", now=past)
    ghost = claim(engine=db.engine, worker_id="never-registered", now=past)
    young = claim(engine=db.engine, worker_id="unregistered-just-now")
    assert dead and alive and ghost and young
    assert _row(db, row.id).n_running == 4

    assert release_dead_workers(engine=db.engine, grace=timedelta(seconds=4)) == 2
    with transaction(db.engine) as session:
        held = set(session.scalars(select(ClaimRow.worker_id)))
        registered = set(session.scalars(select(WorkerRow.id)))
    assert held == {"alive", "unregistered-just-now"}
    assert registered == {"alive"}
    assert _row(db, row.id).n_running == 2
    assert [w.id for w in workers.live(engine=db.engine)] == ["alive"]
    # The dead worker's late finish must not give the slot back a second time.
    finish(engine=db.engine, claim_id=dead.id, study_id=row.id, seq=dead.seq)
    assert _row(db, row.id).n_running == 2


def _trial_of_a_dead_worker(db: Db, row: StudyRow, worker_id: str) -> None:
    """A trial whose worker, and the trial's own heartbeat, went silent a while ago."""
    workers.register(worker_id, engine=db.engine)
    taken = claim(engine=db.engine, worker_id=worker_id, now=utcnow() - timedelta(seconds=30))
    assert taken is not None
    study = optuna.load_study(study_name=row.optuna_name, storage=db.storage)
    trial = study.ask({"lambda": optuna.distributions.FloatDistribution(1e-5, 1.0, log=True)})
    assert links.link_trial(db.storage, trial_id_of(trial), taken, engine=db.engine)
    db.storage.record_heartbeat(trial_id_of(trial))
    beat = om.TrialHeartbeatModel
    with transaction(db.engine) as session:
        last = session.scalar(select(beat.heartbeat).where(beat.trial_id == trial_id_of(trial)))
        assert last is not None
        session.execute(
            update(beat)
            .where(beat.trial_id == trial_id_of(trial))
            .values(heartbeat=last - timedelta(seconds=60))
        )
    _age_worker(db, worker_id, 30)


def test_sweep_fails_a_stale_trial_queues_its_retry_and_frees_the_slot(db: Db) -> None:
    row = _study(db, 5, 5)
    _trial_of_a_dead_worker(db, row, "doomed")

    assert _sweep(db) == 1
    trials = optuna.load_study(study_name=row.optuna_name, storage=db.storage).get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "WAITING"]
    assert trials[1].params == trials[0].params
    assert trials[1].system_attrs["failed_trial"] == trials[0].number
    assert _row(db, row.id).n_running == 0
    assert taking.claim(engine=db.engine, worker_id="next") is not None


def test_a_swept_trial_says_why_it_failed(db: Db) -> None:
    """The trial a dead worker left is FAILed with its reason in ``error``, where optuna-dashboard
    and the API show a trial's error (as a cancelled trial's), and which trial retries it."""
    row = _study(db, 5, 5)
    _trial_of_a_dead_worker(db, row, "doomed")
    assert _sweep(db) == 1
    failed, retry = optuna.load_study(study_name=row.optuna_name, storage=db.storage).get_trials()
    error = failed.user_attrs["error"]
    assert "heartbeat" in error and f"queued again as trial #{retry.number}" in error
    assert retry.user_attrs == {}  # the retry starts clean


def test_a_stale_trial_with_no_retry_left_fails_the_study(db: Db) -> None:
    """The retry budget is the study row's ``max_retries``: with none, one death ends it."""
    row = _study(db, 5, 5, max_retries=0)
    _trial_of_a_dead_worker(db, row, "doomed")

    assert _sweep(db) == 1
    trials = optuna.load_study(study_name=row.optuna_name, storage=db.storage).get_trials()
    assert [t.state.name for t in trials] == ["FAIL"]
    final = _row(db, row.id)
    assert final.status == "failed" and "died 1 time " in (final.error or "")
    assert "no retry left" in trials[0].user_attrs["error"]


def test_a_running_trial_keeps_its_slot_until_its_own_heartbeat_lapses(db: Db) -> None:
    """A worker whose heartbeat row is stale but whose trial still beats is slow, not dead."""
    row = _study(db, 5, 5)
    storage = db.storage
    # judging from here on, so that the sweep below runs as soon as it is called: the trial's
    # first heartbeat, at its link, is then well inside SWEEP_GRACE (waited out after the
    # link, it could reach it on a loaded machine, and the trial is judged by it)
    wait_until_judging(db.engine, SWEEP_GRACE)
    workers.register("slow", engine=db.engine)
    taken = claim(engine=db.engine, worker_id="slow", now=utcnow() - timedelta(seconds=30))
    assert taken is not None
    study = optuna.load_study(study_name=row.optuna_name, storage=storage)
    trial = study.ask()
    assert links.link_trial(storage, trial_id_of(trial), taken, engine=db.engine)
    _age_worker(db, "slow", 30)

    assert _sweep(db) == 0  # the trial's heartbeat is fresh: the slot stays taken
    assert _row(db, row.id).n_running == 1
    study.tell(trial, 1.0)  # the slow worker completes it; only then may the slot go
    assert _sweep(db) == 1
    final = _row(db, row.id)
    assert (final.n_running, final.n_done) == (0, 1)
    # a claim released before its trial was linked is refused to the trial
    late = claim(engine=db.engine, worker_id="late", now=utcnow() - timedelta(seconds=30))
    assert late is not None
    assert release_dead_workers(engine=db.engine, grace=timedelta(seconds=4)) == 1
    assert not links.link_trial(storage, trial_id_of(study.ask()), late, engine=db.engine)


def _path_trial(db: Db, row: StudyRow, worker_id: str, *, now: Any = None) -> tuple[Claim, int]:
    """A claim and its running trial, as a λ path starts."""
    taken = claim(engine=db.engine, worker_id=worker_id, now=now)
    assert taken is not None
    study = optuna.load_study(study_name=row.optuna_name, storage=db.storage)
    trial = study.ask({"l1_ratio": optuna.distributions.FloatDistribution(0, 1)})
    assert links.link_trial(db.storage, trial_id_of(trial), taken, engine=db.engine)
    return taken, trial_id_of(trial)


def test_a_path_reserves_its_points_within_the_budget_but_not_max_parallel(db: Db) -> None:
    row = _study(db, 10, 1)
    first, trial_id = _path_trial(db, row, "w")
    more = taking.extend(db.engine, claim=first, worker_id="w", slots=20, trial_id=trial_id)
    assert len(more) == 9  # the budget's rest; max_parallel = 1 counts the path once
    assert (_row(db, row.id).n_running, _row(db, row.id).n_reserved) == (1, 9)
    assert claim(engine=db.engine, worker_id="other") is None
    lam = optuna.distributions.FloatDistribution(1e-3, 1.0, log=True)
    points = [
        optuna.trial.create_trial(
            params={"lambda": 0.5 / (k + 1)}, distributions={"lambda": lam}, value=float(k)
        )
        for k in range(4)
    ]
    optuna_id = db.storage.get_study_id_from_name(row.optuna_name)
    slots = [c.id for c in more]
    written = paths.write_points(
        db.engine,
        optuna_study_id=optuna_id,
        study_id=row.id,
        trial_id=trial_id,
        slots=slots,
        points=points,
    )
    after = _row(db, row.id)
    assert written == 4 and (after.n_done, after.n_running, after.n_reserved) == (4, 1, 0)
    assert paths.release(db.engine, study_id=row.id, slots=slots) == 0  # given back once
    trials = db.storage.get_all_trials(optuna_id)
    assert [t.number for t in trials] == [0, 1, 2, 3, 4]
    assert [t.state for t in trials[1:]] == [optuna.trial.TrialState.COMPLETE] * 4
    assert [t.params["lambda"] for t in trials[1:]] == [0.5, 0.25, 0.5 / 3, 0.125]
    # five slots open again: the next path takes one claim and reserves four
    second = claim(engine=db.engine, worker_id="other")
    assert second is None  # max_parallel: the first path's claim still runs
    db.storage.set_trial_state_values(trial_id, optuna.trial.TrialState.COMPLETE, [0.0])
    finish(engine=db.engine, claim_id=first.id, study_id=row.id, seq=first.seq)
    assert _row(db, row.id).n_done == 5


def test_a_dead_paths_slots_are_kept_while_it_runs_and_freed_with_no_error_after(
    db: Db,
) -> None:
    row = _study(db, 10, 2, max_retries=0)
    wait_until_judging(db.engine, SWEEP_GRACE)  # the first sweep at once: the trial still beats
    workers.register("doomed", engine=db.engine)
    taken, trial_id = _path_trial(db, row, "doomed", now=utcnow() - timedelta(seconds=30))
    more = taking.extend(db.engine, claim=taken, worker_id="doomed", slots=3, trial_id=trial_id)
    assert len(more) == 3
    _age_worker(db, "doomed", 30)
    assert _sweep(db) == 0  # the trial still beats
    assert (_row(db, row.id).n_running, _row(db, row.id).n_reserved) == (1, 3)
    # the path's trial goes silent: it fails, its retry is queued, then all four slots go back
    _silence(db, trial_id)
    _sweep(db)
    final = _row(db, row.id)
    assert (final.n_running, final.n_reserved) == (0, 0)
    assert final.status == "failed" and final.n_errors == 1  # the one death, not four
    assert final.optuna_study_id is not None
    states = [t.state.name for t in db.storage.get_all_trials(final.optuna_study_id)]
    assert states == ["FAIL"]


def _attr_keys(db: Db, trial_id: int) -> list[str]:
    """A trial's system attribute keys as stored (no process's cache in between)."""
    attr = om.TrialSystemAttributeModel
    with transaction(db.engine) as session:
        return sorted(session.scalars(select(attr.key).where(attr.trial_id == trial_id)))


def test_a_dead_paths_retry_runs_as_a_path_again_on_the_claim_ids_it_held(db: Db) -> None:
    row = _study(db, 10, 1, max_retries=2)
    workers.register("doomed", engine=db.engine)
    taken, trial_id = _path_trial(db, row, "doomed", now=utcnow() - timedelta(seconds=30))
    more = taking.extend(db.engine, claim=taken, worker_id="doomed", slots=3, trial_id=trial_id)
    held = [c.id for c in more]
    _age_worker(db, "doomed", 30)
    _silence(db, trial_id)
    # another process sweeps: it reads the dead path's trial, slot links and all, from the table
    sweeper = storage_with_retries(db.url)
    _sweep(db, sweeper)  # failed, its retry queued, its 4 slots back
    sweeper.engine.dispose()
    assert (_row(db, row.id).n_running, _row(db, row.id).n_reserved) == (0, 0)
    assert sorted(path_claim_key(i) for i in held) == [
        k for k in _attr_keys(db, trial_id) if k.startswith(PATH_CLAIM_PREFIX)
    ]

    retry = claim(engine=db.engine, worker_id="w")
    assert retry is not None
    study = optuna.load_study(study_name=row.optuna_name, storage=db.storage)
    trial = study.ask()  # the WAITING retry, with the dead path's knobs
    queued = _attr_keys(db, trial_id_of(trial))
    assert RETRY_OF_ATTR in queued
    assert [k for k in queued if k.startswith(PATH_CLAIM_PREFIX) or k == CLAIM_ATTR] == []
    assert links.link_trial(db.storage, trial_id_of(trial), retry, engine=db.engine)
    # SQLite numbers the new slots as the dead path's were (max id + 1): the links must not clash
    again = taking.extend(
        db.engine, claim=retry, worker_id="w", slots=3, trial_id=trial_id_of(trial)
    )
    assert len(again) == 3
    if db.engine.dialect.name == "sqlite":
        assert [retry.id, *(c.id for c in again)] == [taken.id, *held]  # what made them clash
    linked = [k for k in _attr_keys(db, trial_id_of(trial)) if k.startswith(PATH_CLAIM_PREFIX)]
    assert linked == sorted(path_claim_key(c.id) for c in again)


def test_a_path_leaves_its_slot_to_a_retry_queued_before_it_reserves(db: Db) -> None:
    """A path's trial starts, then the sweep fails a dead worker's trial, queues its retry and
    gives its slot back; the path reserves its further slots after that. It leaves the retry's
    slot, the next claim runs the retry, and the study completes with exactly its budget (was:
    the path took that slot too, its last point completed the study, and the sweep failed the
    retry "not run: the study was completed before it started")."""
    row = _study(db, 3, 2)
    _trial_of_a_dead_worker(db, row, "doomed")
    wait_until_judging(db.engine, SWEEP_GRACE)  # the sweep below judges without waiting
    path, trial_id = _path_trial(db, row, "w")  # a fresh trial: no retry queued yet
    _sweep(db)
    assert (_row(db, row.id).n_running, _row(db, row.id).n_reserved) == (1, 0)
    more = taking.extend(db.engine, claim=path, worker_id="w", slots=20, trial_id=trial_id)
    assert len(more) == 1  # 3 trials, 1 running, 1 WAITING
    lam = optuna.distributions.FloatDistribution(1e-3, 1.0, log=True)
    point = optuna.trial.create_trial(
        params={"lambda": 0.5}, distributions={"lambda": lam}, value=1.0
    )
    optuna_id = db.storage.get_study_id_from_name(row.optuna_name)
    slots = [c.id for c in more]
    assert paths.write_points(
        db.engine,
        optuna_study_id=optuna_id,
        study_id=row.id,
        trial_id=trial_id,
        slots=slots,
        points=[point],
    )
    db.storage.set_trial_state_values(trial_id, optuna.trial.TrialState.COMPLETE, [0.0])
    finish(engine=db.engine, claim_id=path.id, study_id=row.id, seq=path.seq)
    assert _row(db, row.id).status == "running"

    retry = claim(engine=db.engine, worker_id="next")
    assert retry is not None and retry.waiting
    study = optuna.load_study(study_name=row.optuna_name, storage=db.storage)
    trial = study.ask()  # the WAITING retry
    assert RETRY_OF_ATTR in _attr_keys(db, trial_id_of(trial))
    assert links.link_trial(db.storage, trial_id_of(trial), retry, engine=db.engine)
    study.tell(trial, 2.0)
    assert finish(engine=db.engine, claim_id=retry.id, study_id=row.id, seq=retry.seq)
    final = _row(db, row.id)
    assert (final.status, final.n_done, final.n_running, final.n_reserved) == ("completed", 3, 0, 0)
    states = [t.state.name for t in db.storage.get_all_trials(optuna_id)]
    assert states == ["FAIL", "COMPLETE", "COMPLETE", "COMPLETE"]
