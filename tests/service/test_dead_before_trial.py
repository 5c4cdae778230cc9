"""A worker that dies between its claim and its trial counts as an error of the study
(issue 15, item 1): a study whose data or sampler kills every worker ends ``failed`` instead of
cycling through the pool. A worker that dies after its trial finished costs the study nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import optuna
import pytest
from sqlalchemy import Engine, update

from regtune.service.spec.definition import StudySpec
from regtune.service.store.clock import utcnow
from regtune.service.store.db import make_engine, transaction
from regtune.service.store.migrate import upgrade
from regtune.service.store.optuna_db.attrs import CLAIM_ATTR
from regtune.service.store.optuna_db.internals.handles import om, trial_id_of
from regtune.service.store.repos.study_creation import create_study
from regtune.service.store.scheduling.claims.recovery import DIED_BEFORE_TRIAL, release_dead_workers
from regtune.service.store.scheduling.claims.taking import claim
from regtune.service.store.scheduling.retries import storage_with_retries
from regtune.service.store.tables import StudyRow


@pytest.fixture
def db(database_url: str) -> Iterator[tuple[Engine, optuna.storages.RDBStorage]]:
    """The database under test, passed to every call (nothing reads the process's settings)."""
    upgrade(database_url)
    engine, storage = make_engine(database_url), storage_with_retries(database_url)
    yield engine, storage
    engine.dispose()
    storage.engine.dispose()


def _row(engine: Engine, study_id: str) -> StudyRow:
    with transaction(engine) as session:
        row = session.get(StudyRow, study_id)
    assert row is not None
    return row


def test_deaths_before_the_trial_count_and_end_the_study(
    db: tuple[Engine, optuna.storages.RDBStorage],
) -> None:
    engine, storage = db
    spec = StudySpec.model_validate(
        {
            "name": f"s-{uuid.uuid4().hex[:8]}",
            "dataset": {"synthetic": {"kind": "sparse_regression"}},
            "task": "regression",
            "budget": {"n_trials": 10, "max_parallel": 10, "max_retries": 1},
        }
    )
    row = create_study(spec, engine=engine, storage=storage)
    past = utcnow() - timedelta(seconds=60)
    grace = timedelta(seconds=4)

    # died after its trial finished: no error
    finished = claim(engine=engine, worker_id="gone-after", now=past - timedelta(seconds=60))
    assert finished is not None
    study = optuna.load_study(study_name=row.optuna_name, storage=storage)
    trial = study.ask()
    storage.set_trial_system_attr(trial_id_of(trial), CLAIM_ATTR, finished.id)
    study.tell(trial, 1.0)
    with transaction(engine) as session:  # it ran a minute before the next claims
        session.execute(
            update(om.TrialModel)
            .where(om.TrialModel.trial_id == trial_id_of(trial))
            .values(_datetime_start_utc=past - timedelta(seconds=50))
            .execution_options(synchronize_session=False)
        )
    assert release_dead_workers(engine=engine, grace=grace) == 1
    assert _row(engine, row.id).n_errors == 0

    # died before its trial started: one error each; max_retries + 1 of them fail the study
    for attempt in range(2):
        assert claim(engine=engine, worker_id=f"gone-before-{attempt}", now=past) is not None
        assert release_dead_workers(engine=engine, grace=grace) == 1
        after = _row(engine, row.id)
        assert after.n_errors == attempt + 1 and after.error == DIED_BEFORE_TRIAL
    assert _row(engine, row.id).status == "failed"
