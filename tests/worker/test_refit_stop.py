"""A worker retraining a completed study's best model honours SIGTERM, and the autoscaler keeps
a worker while a completed study still waits for its model (issue 22, item 12: the refit ran
22 s past SIGTERM while the scaler counted only queued and running studies, so on scale-down
nothing might be left to catch up)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial
from sqlalchemy import Engine, update

from regtune.service.spec.definition import StudySpec
from regtune.service.spec.enums import StudyStatus
from regtune.service.spec.resolve import resolve_task
from regtune.service.store.db import make_engine, transaction
from regtune.service.store.migrate import upgrade
from regtune.service.store.optuna_db.attrs import BEST_MODEL_ATTR, NO_MODEL_ATTR
from regtune.service.store.repos.study_creation import create_study
from regtune.service.store.scheduling.retries import storage_with_retries
from regtune.service.store.scheduling.scaling import wanted_workers
from regtune.service.store.tables import StudyRow
from regtune.worker.best_model import RefitStopped
from regtune.worker.refit import best_fit

optuna.logging.set_verbosity(optuna.logging.WARNING)


class StopOnCall:
    """A stop check that raises on its ``n``-th call, counting every call."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, 0

    def __call__(self) -> None:
        self.calls += 1
        if self.calls >= self.n:
            raise RefitStopped("the worker is stopping")


def test_a_refit_checks_for_a_stop_every_iteration_and_stops_at_once() -> None:
    """A solve of a million iterations at tol 1e-12 looks at ``stop`` before each one, and the
    first that raises ends it: no more checks, no iteration after (SIGTERM's refit stop)."""
    spec = resolve_task(
        StudySpec.model_validate(
            {
                "name": "long-refit",
                "dataset": {"builtin": "digits"},
                "training": {"solver": "exact", "tol": 1e-12, "max_iter": 1_000_000},
            }
        )
    )
    check = StopOnCall(200)
    with pytest.raises(RefitStopped):
        best_fit(spec, {"lambda": 1e-9, "l1_ratio": 0.5}, {}, stop=check)
    assert check.calls == 200


@pytest.fixture
def engine(database_url: str) -> Iterator[tuple[Engine, optuna.storages.RDBStorage]]:
    upgrade(database_url)
    made, storage = make_engine(database_url), storage_with_retries(database_url)
    yield made, storage
    made.dispose()
    storage.engine.dispose()


def completed_study(made: Engine, storage: optuna.storages.RDBStorage) -> optuna.Study:
    """A study completed with one COMPLETE trial, its best model not saved yet."""
    spec = StudySpec.model_validate(
        {
            "name": f"s-{uuid.uuid4().hex[:8]}",
            "dataset": {"builtin": "diabetes"},
            "budget": {"n_trials": 1},
        }
    )
    row = create_study(spec, engine=made, storage=storage)
    study = optuna.load_study(study_name=row.optuna_name, storage=storage)
    study.add_trial(
        create_trial(
            state=TrialState.COMPLETE,
            value=1.0,
            params={"lambda": 0.1},
            distributions={"lambda": FloatDistribution(1e-5, 10, log=True)},
        )
    )
    with transaction(made) as session:
        session.execute(
            update(StudyRow)
            .where(StudyRow.id == row.id)
            .values(status=StudyStatus.COMPLETED, n_done=1)
        )
    return study


def test_the_scaler_keeps_a_worker_for_a_model_still_to_save(
    engine: tuple[Engine, optuna.storages.RDBStorage],
) -> None:
    made, storage = engine

    def wanted() -> int:
        with made.connect() as connection:
            return wanted_workers(connection)

    saved, given_up, pending = (completed_study(made, storage) for _ in range(3))
    saved.set_user_attr(BEST_MODEL_ATTR, {"trial": 0})
    storage.set_study_system_attr(
        storage.get_study_id_from_name(given_up.study_name), NO_MODEL_ATTR, {"reason": "gave up"}
    )
    assert wanted() == 1  # the pending refit keeps one worker to catch up
    pending.set_user_attr(BEST_MODEL_ATTR, {"trial": 0})
    assert wanted() == 0
