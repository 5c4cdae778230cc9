"""The API's incremental reads agree with the database as trials come and change, on both
backends: counts, pages and the best trial (``trials.index``), /metrics tallies
(``trials.stats``), both through one delta cursor, the sweep lease, and the read indexes the
migration adds."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Literal

import optuna
import pytest
from optuna.distributions import BaseDistribution, FloatDistribution
from optuna.storages._rdb import models
from optuna.trial import TrialState, create_trial
from sqlalchemy import delete, func, inspect, select, update

from regtune.service.store.clock import utcnow
from regtune.service.store.db import make_engine, transaction
from regtune.service.store.migrate import upgrade
from regtune.service.store.scheduling.lease import Lease
from regtune.service.store.scheduling.retries import storage_with_retries
from regtune.service.store.tables import LeaseRow, StudyRow
from regtune.service.store.trials.best import best_trial_number
from regtune.service.store.trials.index import study_index
from regtune.service.store.trials.stats import TrialStats
from regtune.service.store.trials.views import (
    page_ids,
    stopped_early,
    study_reads,
    trials_by_id,
)
from tests.support import study_row

optuna.logging.set_verbosity(optuna.logging.WARNING)
X: dict[str, BaseDistribution] = {"x": FloatDistribution(0, 1)}


def _finished(study: optuna.Study, rng: random.Random, n: int) -> None:
    trials = []
    for _ in range(n):
        state = rng.choice([TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL])
        value = rng.random() if state == TrialState.COMPLETE else None
        attrs = {}
        if state == TrialState.COMPLETE:
            attrs = {"feasible": rng.random() < 0.7, "stopped_early": rng.random() < 0.4}
        trials.append(
            create_trial(
                state=state,
                value=value,
                params={"x": rng.random()},
                distributions=X,
                user_attrs=attrs,
                intermediate_values={1: 1.0},
            )
        )
    study.add_trials(trials)


def _expected(study: optuna.Study) -> tuple[dict[str, int], dict[str | None, list[int]]]:
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    counts = {s.name: sum(t.state == s for t in trials) for s in TrialState}
    numbers: dict[str | None, list[int]] = {None: [t.number for t in trials]}
    for state in TrialState:
        numbers[state.name] = [t.number for t in trials if t.state == state]
    return counts, numbers


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_the_trial_index_follows_new_and_changing_trials(
    database_url: str, direction: Literal["minimize", "maximize"]
) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    storage = storage_with_retries(database_url)
    study = optuna.create_study(storage=storage, direction=direction)
    key = uuid.uuid4().hex  # regtune's study id: a fresh database reuses Optuna's ids
    rng = random.Random(0)

    def check() -> None:
        counts, numbers = _expected(study)
        with transaction(engine) as session:
            seen, best, _ = study_reads(session, study._study_id, key=key, direction=direction)
            assert seen == counts
            stopped = stopped_early(session, study._study_id, key=key)
            assert stopped == sum(
                t.state == TrialState.COMPLETE and t.user_attrs.get("stopped_early") is True
                for t in study.get_trials(deepcopy=False)
            )
            for state in (None, "COMPLETE", "RUNNING", "WAITING"):
                for offset in (0, 7, len(numbers[state]) - 3, len(numbers[state]) + 5):
                    total, ids = page_ids(
                        session,
                        study._study_id,
                        key=key,
                        state=state,
                        offset=max(0, offset),
                        limit=5,
                    )
                    page = trials_by_id(session, ids)
                    assert total == len(numbers[state])
                    assert [v.number for v in page] == numbers[state][max(0, offset) :][:5]
            expected = best_trial_number(session, study._study_id, direction)
        assert (best.number if best else None) == expected

    _finished(study, rng, 40)
    check()
    first, second = (storage.create_new_trial(study._study_id) for _ in range(2))
    storage.set_trial_state_values(first, TrialState.PRUNED)  # its row version now comes last
    check()  # both new since the last read, in whatever order the database returns them
    running = [storage.create_new_trial(study._study_id) for _ in range(3)]
    study.enqueue_trial({"x": 0.5})
    _finished(study, rng, 10)
    check()
    best_value = 1e9 if direction == "maximize" else -1e9
    storage.set_trial_state_values(running[0], TrialState.COMPLETE, [best_value])
    storage.set_trial_state_values(running[1], TrialState.PRUNED)
    check()  # a trial seen RUNNING finished, and it is the new best
    waiting = study.ask()  # the enqueued trial: WAITING → RUNNING
    storage.set_trial_user_attr(waiting._trial_id, "feasible", False)
    storage.set_trial_state_values(waiting._trial_id, TrialState.COMPLETE, [2 * best_value])
    check()  # better, but infeasible: the best stays
    assert study_index(key, study._study_id).cursor.open.keys() == {second, running[2]}
    engine.dispose()


def test_metrics_tallies_follow_trials_and_deleted_studies(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    storage = storage_with_retries(database_url)
    stats = TrialStats((1.0, 10.0, float("inf")), (0.1, float("inf")))
    rng = random.Random(1)
    studies = [optuna.create_study(storage=storage, study_name=f"s{i}") for i in range(3)]
    with transaction(engine) as session:
        for i, study in enumerate(studies):
            session.add(study_row(f"s{i}", study._study_id, "running"))
    outsider = optuna.create_study(storage=storage, study_name="not regtune's")

    trials = models.TrialModel

    def expected() -> dict[str, int]:
        with transaction(engine) as session:
            ours = select(StudyRow.optuna_study_id)
            rows = session.execute(
                select(trials.state, func.count())
                .where(trials.study_id.in_(ours))
                .group_by(trials.state)
            ).all()
        counts = dict.fromkeys([s.name for s in TrialState], 0)
        counts.update({state.name: int(n) for state, n in rows})
        return counts

    def snapshot() -> dict[str, int]:
        with transaction(engine) as session:
            now = stats.snapshot(session, now=utcnow(), grace=10)
        finished = sum(sum(h.counts) for h in now.durations.values())
        assert finished == sum(now.trials[s] for s in ("COMPLETE", "PRUNED", "FAIL"))
        return now.trials

    for study in [*studies, outsider]:
        _finished(study, rng, 15)
    assert snapshot() == expected()
    running = storage.create_new_trial(studies[0]._study_id)
    _finished(studies[1], rng, 5)
    assert snapshot() == expected()
    storage.set_trial_state_values(running, TrialState.COMPLETE, [0.5])
    assert snapshot() == expected()
    with transaction(engine) as session:
        session.execute(delete(StudyRow).where(StudyRow.id == "s2"))
    assert snapshot() == expected()
    engine.dispose()


def test_one_process_at_a_time_holds_the_sweep_lease(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    first = Lease("sweep", seconds=60, engine=engine)
    second = Lease("sweep", seconds=60, engine=engine)
    assert first.acquire()
    assert not second.acquire()
    assert first.acquire()  # renewed
    first.release()  # a process that stops hands over at once
    assert second.acquire()
    assert not first.acquire()
    with transaction(engine) as session:  # the holder died: its lease runs out
        session.execute(update(LeaseRow).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert first.acquire()
    assert not second.acquire()
    engine.dispose()


def test_the_migration_adds_the_read_indexes(database_url: str) -> None:
    upgrade(database_url)
    upgrade(database_url)  # idempotent
    engine = make_engine(database_url)
    names = {ix["name"] for ix in inspect(engine).get_indexes("trials")}
    assert {
        "regtune_ix_trials_study_trial",
        "regtune_ix_trials_study_number",
        "regtune_ix_trials_open",
    } <= names
    assert "regtune_leases" in inspect(engine).get_table_names()
    engine.dispose()
