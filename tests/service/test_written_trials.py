"""A worker's cache of a study holds what its sampler and pruner read: the trials it wrote
itself (a λ path's points) stay in it, the next read leaves them out, and of the others' finished
trials it reads no user attributes or coefficients."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import optuna
import pytest
import sqlalchemy as sa
from optuna.distributions import FloatDistribution
from optuna.storages import RDBStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

from regtune.service.store.db import engine_kwargs, transaction
from regtune.service.store.migrate import upgrade
from regtune.service.store.optuna_db.attrs import COEFFICIENTS_ATTR
from regtune.service.store.optuna_db.internals.inserts import add_trials
from regtune.service.store.optuna_db.internals.worker_cache import WorkerHeartbeats
from regtune.service.store.scheduling.retries import storage_with_retries

LAMBDA = FloatDistribution(1e-4, 10.0, log=True)


@pytest.fixture
def storages(database_url: str) -> Iterator[tuple[RDBStorage, RDBStorage]]:
    """regtune's storage (the worker's) and Optuna's plain one (another process's view)."""
    upgrade(database_url)
    ours = storage_with_retries(database_url)
    theirs = RDBStorage(database_url, engine_kwargs=engine_kwargs(database_url))
    yield ours, theirs
    ours.engine.dispose()
    theirs.engine.dispose()


def _point(lam: float, value: float) -> FrozenTrial:
    return optuna.trial.create_trial(
        params={"lambda": lam},
        distributions={"lambda": LAMBDA},
        value=value,
        user_attrs={"n_nonzero": 3, "fold_values": [value, value]},
        system_attrs={"regtune:path_of": 0, COEFFICIENTS_ATTR: {"x1": 0.5}},
        intermediate_values={1: value},
    )


def _sampled(trials: list[FrozenTrial]) -> list[tuple[Any, ...]]:
    """What samplers and pruners read of a trial."""
    return [
        (
            t.number,
            t.state,
            t.params,
            t.distributions,
            t.values,
            {k: v for k, v in t.system_attrs.items() if k != COEFFICIENTS_ATTR},
            t.intermediate_values,
        )
        for t in trials
    ]


def test_a_workers_own_points_are_not_read_back(
    storages: tuple[RDBStorage, RDBStorage], monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, theirs = storages
    study_id = theirs.create_new_study([StudyDirection.MINIMIZE], "paths")
    others = optuna.load_study(study_name="paths", storage=theirs)
    others.add_trial(_point(5.0, 0.9))
    worker = WorkerHeartbeats(ours)
    assert len(worker.get_all_trials(study_id)) == 1

    # the worker writes a path's points, as ``paths.write_points`` does; another process a trial
    points = [_point(lam, 0.5 + lam) for lam in (1.0, 0.1, 0.01)]
    with transaction(ours.engine) as session:
        add_trials(session, study_id, points)
    assert [p.number for p in points] == [1, 2, 3]
    worker.add_written(study_id, points)
    others.add_trial(_point(0.001, 0.7))

    read: list[int] = []
    reader = ours._get_trials

    def counted(*args: Any, **kwargs: Any) -> list[FrozenTrial]:
        found = reader(*args, **kwargs)
        read.extend(t.number for t in found)
        return found

    monkeypatch.setattr(ours, "_get_trials", counted)
    worker.claimed(study_id, waiting=False)  # the next ask reads the study afresh
    cached = worker.get_all_trials(study_id)
    assert _sampled(cached) == _sampled(theirs.get_all_trials(study_id))
    assert read == [4]  # the other process's new trial only
    assert [t.user_attrs for t in cached] == [{}] + [p.user_attrs for p in points] + [{}]
    read.clear()
    worker.claimed(study_id, waiting=False)
    assert len(worker.get_all_trials(study_id)) == 5 and read == []  # nothing new since


def test_the_sampler_reads_an_unfinished_trial_whole(
    storages: tuple[RDBStorage, RDBStorage],
) -> None:
    ours, theirs = storages
    study_id = theirs.create_new_study([StudyDirection.MINIMIZE], "waiting")
    others = optuna.load_study(study_name="waiting", storage=theirs)
    others.enqueue_trial({"lambda": 0.5}, user_attrs={"why": "retry"})
    others.add_trial(_point(5.0, 0.9))
    worker = WorkerHeartbeats(ours)
    waiting, done = worker.get_all_trials(study_id)
    assert waiting.user_attrs == {"why": "retry"} and "fixed_params" in waiting.system_attrs
    assert done.user_attrs == {} and done.system_attrs == {"regtune:path_of": 0}


def test_points_are_stamped_in_utc_whatever_the_workers_time_zone(
    storages: tuple[RDBStorage, RDBStorage], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``create_trial`` stamps naive local time, which Optuna's own writer turns into the naive
    UTC its columns hold; written as it was, a path's points on a worker in Tokyo started and
    ended 9 hours after their study."""
    ours, theirs = storages
    study_id = theirs.create_new_study([StudyDirection.MINIMIZE], "tokyo")
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        before = datetime.now(UTC)
        with transaction(ours.engine) as session:
            add_trials(session, study_id, [_point(1.0, 0.5)])
        after = datetime.now(UTC)
        with ours.engine.connect() as connection:
            start, complete = connection.execute(
                sa.text("SELECT datetime_start, datetime_complete FROM trials")
            ).one()
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    for stamp in (start, complete):
        stored = datetime.fromisoformat(str(stamp)).replace(tzinfo=UTC)
        assert before - timedelta(seconds=1) <= stored <= after + timedelta(seconds=1), stored
