"""A trial this process runs: its reports and attributes written in batches, read at once by its
own pruner, stored exactly once it ends, and never written after someone else ended it."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import optuna
import pytest
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RDBStorage
from optuna.trial import TrialState
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from regtune.service.spec.definition import StudySpec
from regtune.service.store.clock import utcnow
from regtune.service.store.db import engine_kwargs, make_engine, transaction
from regtune.service.store.migrate import upgrade
from regtune.service.store.optuna_db import running
from regtune.service.store.optuna_db.internals import worker_cache
from regtune.service.store.optuna_db.internals.batched import params_together
from regtune.service.store.optuna_db.internals.handles import (
    om,
    storage_of,
    study_id_of,
    trial_id_of,
)
from regtune.service.store.optuna_db.internals.worker_cache import WorkerHeartbeats
from regtune.service.store.repos.study_creation import create_study
from regtune.service.store.scheduling.claims import finishing, links, taking
from regtune.service.store.scheduling.claims.slot import Claim
from regtune.service.store.scheduling.retries import storage_with_retries
from regtune.service.store.tables import ClaimRow, StudyRow

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def storages(database_url: str) -> Iterator[tuple[RDBStorage, RDBStorage]]:
    """regtune's storage (the worker's) and Optuna's plain one (another process's view)."""
    ours = storage_with_retries(database_url)
    theirs = RDBStorage(database_url, engine_kwargs=engine_kwargs(database_url))
    yield ours, theirs
    ours.engine.dispose()
    theirs.engine.dispose()


def _regtune_study(
    database_url: str, *, n_trials: int, max_parallel: int
) -> tuple[Engine, RDBStorage, StudyRow]:
    """A study of regtune's (its row and its Optuna study), on a fresh engine and storage."""
    upgrade(database_url)
    engine, storage = make_engine(database_url), storage_with_retries(database_url)
    spec = StudySpec.model_validate(
        {
            "name": f"s-{uuid.uuid4().hex[:8]}",
            "dataset": {"synthetic": {"kind": "sparse_regression"}},
            "task": "regression",
            "budget": {"n_trials": n_trials, "max_parallel": max_parallel},
        }
    )
    return engine, storage, create_study(spec, engine=engine, storage=storage)


def _stored(storage: RDBStorage, trial: optuna.Trial) -> optuna.trial.FrozenTrial:
    return storage.get_trial(trial_id_of(trial))


def test_reports_wait_for_the_flush_but_the_pruner_sees_them_at_once(
    storages: tuple[RDBStorage, RDBStorage], monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, theirs = storages
    monkeypatch.setattr(running, "FLUSH_SECONDS", 3600.0)  # no flush before the end
    study = optuna.create_study(storage=ours, pruner=optuna.pruners.MedianPruner(0, 0))
    for value in (1.0, 2.0):  # two finished trials whose curve is far below the next one's
        done = study.ask()
        done.report(value, 1)
        study.tell(done, value)
    trial = study.ask()
    trial.report(10.0, 1)
    trial.set_user_attr("note", "kept")
    assert _stored(theirs, trial).intermediate_values == {}
    assert trial.should_prune()  # decided on its own unflushed report
    assert ours.get_trial(trial_id_of(trial)).user_attrs == {"note": "kept"}
    study.tell(trial, state=TrialState.PRUNED)
    stored = _stored(theirs, trial)
    assert (stored.state, stored.intermediate_values, stored.user_attrs) == (
        TrialState.PRUNED,
        {1: 10.0},
        {"note": "kept"},
    )
    assert stored.value == 10.0  # a pruned trial's value is its last report, as in Optuna


def test_a_due_flush_writes_the_reports_while_the_trial_runs(
    storages: tuple[RDBStorage, RDBStorage], monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, theirs = storages
    monkeypatch.setattr(running, "FLUSH_SECONDS", 0.0)  # every report is due
    study = optuna.create_study(storage=ours)
    trial = study.ask()
    for step in range(3):
        trial.report(float(step), step)
    stored = _stored(theirs, trial)
    assert (stored.state, stored.intermediate_values) == (
        TrialState.RUNNING,
        {0: 0.0, 1: 1.0, 2: 2.0},
    )


def test_parameters_of_one_round_are_stored_together_and_the_same(
    storages: tuple[RDBStorage, RDBStorage],
) -> None:
    ours, theirs = storages
    study = optuna.create_study(storage=ours)
    trial = study.ask()
    with params_together(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        n = trial.suggest_int("n", 1, 9)
        assert trial.suggest_float("x", 0.0, 1.0) == x  # asked twice, stored once
        assert _stored(theirs, trial).params == {}
    assert _stored(theirs, trial).params == {"x": x, "n": n}
    assert ours.get_trial(trial_id_of(trial)).params == {"x": x, "n": n}


def test_nothing_is_written_to_a_trial_someone_else_ended(
    storages: tuple[RDBStorage, RDBStorage], monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, theirs = storages
    monkeypatch.setattr(running, "FLUSH_SECONDS", 3600.0)
    study = optuna.create_study(storage=ours)
    trial = study.ask()
    trial.report(1.0, 1)
    assert theirs.set_trial_state_values(trial_id_of(trial), state=TrialState.FAIL)  # a sweep
    with pytest.raises(UpdateFinishedTrialError):
        study.tell(trial, 1.0)
    stored = _stored(theirs, trial)
    assert (stored.state, stored.values, stored.intermediate_values) == (TrialState.FAIL, None, {})


@pytest.mark.parametrize("state", [TrialState.COMPLETE, TrialState.FAIL])
def test_the_tell_of_a_complete_trial_finishes_its_slot(
    database_url: str, state: TrialState
) -> None:
    engine, storage, row = _regtune_study(database_url, n_trials=1, max_parallel=1)
    taken = taking.claim(engine=engine, worker_id="w")
    assert taken is not None and not taken.waiting
    study = optuna.load_study(study_name=row.optuna_name, storage=WorkerHeartbeats(storage))
    trial = study.ask()
    assert links.link_trial(storage_of(study), trial_id_of(trial), taken, engine=engine)
    told = finishing.finish_when_told(storage_of(study), trial_id_of(trial), taken)
    study.tell(trial, 1.0 if state == TrialState.COMPLETE else None, state=state)
    with transaction(engine) as session:
        held = session.scalar(select(ClaimRow.id).where(ClaimRow.id == taken.id))
        study_row = session.get(StudyRow, row.id)
        assert study_row is not None
        counts = (study_row.n_running, study_row.n_done, study_row.status)
    if state == TrialState.COMPLETE:  # the study's only trial: the finish completed it
        assert (told, held, counts) == ([True], None, (0, 1, "completed"))
    else:  # a FAIL is finished by the worker once its retry is queued
        assert (told, held, counts) == ([], taken.id, (1, 0, "running"))
    engine.dispose()
    storage.engine.dispose()


def test_a_claim_that_saw_a_waiting_trial_runs_it_even_right_after_a_read(
    storages: tuple[RDBStorage, RDBStorage], monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, theirs = storages
    monkeypatch.setattr(running, "FLUSH_SECONDS", 3600.0)
    study = optuna.load_study(
        study_name=optuna.create_study(storage=ours).study_name, storage=WorkerHeartbeats(ours)
    )
    cache = storage_of(study)
    assert isinstance(cache, WorkerHeartbeats)
    cache.claimed(study_id_of(study), waiting=False)
    first = study.ask()
    study.tell(first, first.suggest_float("x", 0.0, 1.0))  # the sampler read the study
    # a retry queued by another process (a sweep) just before the next claim took its slot
    optuna.load_study(study_name=study.study_name, storage=theirs).enqueue_trial({"x": 0.5})
    cache.claimed(study_id_of(study), waiting=True)
    retry = study.ask()
    assert retry.suggest_float("x", 0.0, 1.0) == 0.5
    retry.report(0.25, 1)  # this process runs it now: kept, and written in batches
    assert theirs.get_trial(trial_id_of(retry)).intermediate_values == {}
    assert ours.get_trial(trial_id_of(retry)).intermediate_values == {1: 0.25}
    study.tell(retry, 0.25)
    stored = theirs.get_all_trials(study_id_of(study))
    assert [(t.state, t.params, t.intermediate_values) for t in stored][1:] == [
        (TrialState.COMPLETE, {"x": 0.5}, {1: 0.25})
    ]


def test_two_tells_that_finish_their_slots_at_once_count_both(database_url: str) -> None:
    """The second tell's count misses the first's trial (PostgreSQL: its snapshot predates the
    first's commit, it waited for the study row); ``n_done`` must count both all the same."""
    engine, storage, row = _regtune_study(database_url, n_trials=3, max_parallel=2)
    taken = [taking.claim(engine=engine, worker_id=f"w{i}") for i in range(2)]
    study = optuna.load_study(study_name=row.optuna_name, storage=storage)
    asked = [trial_id_of(study.ask()) for _ in range(2)]
    trials = om.TrialModel.__table__
    first, second = Session(engine), Session(engine)

    def tell_and_finish(session: Session, trial_id: int, claim: Claim | None) -> None:
        assert claim is not None
        session.execute(
            update(trials).where(trials.c.trial_id == trial_id).values(state=TrialState.COMPLETE)
        )
        finishing.finish_in(
            session, claim_id=claim.id, study_id=row.id, seq=claim.seq, now=utcnow(), told=True
        )

    tell_and_finish(first, asked[0], taken[0])  # holds the study row until it commits
    racer = threading.Thread(target=tell_and_finish, args=(second, asked[1], taken[1]))
    racer.start()
    racer.join(timeout=1.0)  # PostgreSQL: blocked on the study row; SQLite: on the write lock
    first.commit()
    racer.join()
    second.commit()
    with transaction(engine) as session:
        counted = session.get(StudyRow, row.id)
        assert counted is not None
        assert (counted.n_done, counted.n_running) == (2, 0)
    engine.dispose()
    storage.engine.dispose()


def test_a_pruner_sees_the_trials_this_process_runs_and_ended_as_they_are(
    storages: tuple[RDBStorage, RDBStorage], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fused members run in one process: between two reads of the database (at most one a
    second), a member's pruner still sees the others' reports, rungs and ends as written, so
    what it decides does not depend on the clock (one worker prunes the same trials each run)."""
    ours, _ = storages
    monkeypatch.setattr(worker_cache, "FLUSH_SECONDS", 3600.0)  # no read of the database between
    study = optuna.load_study(
        study_name=optuna.create_study(storage=ours).study_name, storage=WorkerHeartbeats(ours)
    )
    first, second = study.ask(), study.ask()
    assert [t.intermediate_values for t in study.get_trials()] == [{}, {}]  # read: both running
    first.report(0.5, 1)
    storage_of(study).set_trial_system_attr(trial_id_of(first), "completed_rung_0", 0.5)
    seen = study.get_trials(deepcopy=False)[0]
    assert seen.intermediate_values == {1: 0.5}
    assert seen.system_attrs["completed_rung_0"] == 0.5
    study.tell(first, 0.5)
    second.report(0.7, 1)
    assert [(t.state, t.intermediate_values) for t in study.get_trials()] == [
        (TrialState.COMPLETE, {1: 0.5}),
        (TrialState.RUNNING, {1: 0.7}),
    ]
