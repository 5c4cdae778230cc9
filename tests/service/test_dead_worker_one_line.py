"""The sweep says once per dead worker and study that it gave the worker's slots back, with how
many: a worker killed mid λ path wrote ``released the slot of dead worker … in study …`` 20
times in the API's log, one per slot its path reserved, and a fused pass K times."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta

import optuna
import pytest
from optuna.trial import TrialState
from sqlalchemy import Engine

from regtune.service.spec.definition import StudySpec
from regtune.service.store.clock import utcnow
from regtune.service.store.db import make_engine
from regtune.service.store.migrate import upgrade
from regtune.service.store.optuna_db.internals.handles import trial_id_of
from regtune.service.store.repos.study_creation import create_study
from regtune.service.store.scheduling.claims.links import link_trial
from regtune.service.store.scheduling.claims.recovery import release_dead_workers
from regtune.service.store.scheduling.claims.taking import claim_slots, extend
from regtune.service.store.scheduling.retries import storage_with_retries
from regtune.service.store.tables import StudyRow

GRACE = timedelta(seconds=4)
Db = tuple[Engine, optuna.storages.RDBStorage]


@pytest.fixture
def db(database_url: str) -> Iterator[Db]:
    upgrade(database_url)
    engine, storage = make_engine(database_url), storage_with_retries(database_url)
    yield engine, storage
    engine.dispose()
    storage.engine.dispose()


def _study(db: Db) -> StudyRow:
    spec = StudySpec.model_validate(
        {
            "name": f"s-{uuid.uuid4().hex[:8]}",
            "dataset": {"synthetic": {"kind": "sparse_regression"}},
            "task": "regression",
            "budget": {"n_trials": 30, "max_parallel": 8, "max_retries": 5},
        }
    )
    engine, storage = db
    return create_study(spec, engine=engine, storage=storage)


def _released(caplog: pytest.LogCaptureFixture, worker_id: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and f"of dead worker {worker_id} " in r.getMessage()
    ]


def test_a_dead_fused_worker_is_one_line_with_its_slots(
    db: Db, caplog: pytest.LogCaptureFixture
) -> None:
    engine, _ = db
    row = _study(db)
    past = utcnow() - timedelta(seconds=60)
    claim_slots(engine, worker_id="fused", slots=4, study_id=row.id, now=past)
    claim_slots(engine, worker_id="single", slots=1, study_id=row.id, now=past)
    with caplog.at_level(logging.WARNING, logger="regtune.service.store"):
        assert release_dead_workers(engine, grace=GRACE) == 5
    assert _released(caplog, "fused") == [
        f"released the 4 slots of dead worker fused in study {row.id}"
    ]
    assert _released(caplog, "single") == [
        f"released the slot of dead worker single in study {row.id}"
    ]


def test_a_dead_paths_slots_are_one_line(db: Db, caplog: pytest.LogCaptureFixture) -> None:
    """A λ path's worker that told its trial and died before giving its slots back."""
    engine, storage = db
    row = _study(db)
    (taken,) = claim_slots(
        engine, worker_id="path", slots=1, study_id=row.id, now=utcnow() - timedelta(seconds=60)
    )
    study = optuna.load_study(study_name=row.optuna_name, storage=storage)
    trial_id = trial_id_of(study.ask())
    assert link_trial(storage, trial_id, taken, engine)
    assert len(extend(engine, claim=taken, worker_id="path", slots=19, trial_id=trial_id)) == 19
    storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [0.0])
    with caplog.at_level(logging.WARNING, logger="regtune.service.store"):
        assert release_dead_workers(engine, grace=GRACE) == 20
    assert _released(caplog, "path") == [
        f"released the 20 slots of dead worker path in study {row.id} (19 reserved for a λ path)"
    ]
