"""A study deleted while its best model retrains: the retraining stops at its next check, with
one line naming the study by its regtune id (was: the worker trained on, 22 s in one run and ~5
min for a catch-up's, warned every ~100 s that it "lost the lease on study 1's best model"
naming Optuna's id, then logged "could not save the best model" with ``KeyError: 'Record does
not exist.'``, and ``regtune workers`` showed it on the deleted study all along)."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial
from sqlalchemy import Engine, delete, update

from regtune.service.spec.definition import StudySpec
from regtune.service.spec.enums import StudyStatus
from regtune.service.store.clock import utcnow
from regtune.service.store.db import get_engine, make_engine, transaction
from regtune.service.store.migrate import upgrade
from regtune.service.store.optuna_db.attrs import CHOSEN_TRIAL_ATTR
from regtune.service.store.repos import missing_models, model_lease
from regtune.service.store.repos.study_creation import create_study
from regtune.service.store.scheduling.retries import get_storage, storage_with_retries
from regtune.service.store.tables import StudyRow
from regtune.worker.best_model import (
    DELETED,
    LEASE_LOST,
    RefitStopped,
    Stores,
    save_best_model,
)
from regtune.worker.loop import Worker
from tests.inprocess import Apps
from tests.support import wait_for

optuna.logging.set_verbosity(optuna.logging.WARNING)

LONG_REFIT = {
    "dataset": {"builtin": "diabetes"},
    "task": "regression",
    "model": {"kind": "linear"},
    "training": {"solver": "minibatch", "max_epochs": 10_000},
    "budget": {"n_trials": 1},
}
"""A refit of 10,000 epochs (twice: measured, then on every row): a minute of minibatch
steps, which only a stop ends in a test."""


def _completed(
    engine: Engine, storage: optuna.storages.RDBStorage, *, epochs: int = 10_000
) -> tuple[StudyRow, int]:
    """A study completed with one COMPLETE trial that ran ``epochs``, every epoch of its
    training (``LONG_REFIT`` by default), its best model not saved yet → (its row, its Optuna
    study's id)."""
    training = {"solver": "minibatch", "max_epochs": epochs}
    spec = StudySpec.model_validate(
        {"name": f"s-{uuid.uuid4().hex[:8]}", **LONG_REFIT, "training": training}
    )
    row = create_study(spec, engine=engine, storage=storage)
    study = optuna.load_study(study_name=row.optuna_name, storage=storage)
    study.add_trial(
        create_trial(
            state=TrialState.COMPLETE,
            value=1.0,
            params={"lambda": 1e-3, "l1_ratio": 0.5},
            distributions={
                "lambda": FloatDistribution(1e-5, 10, log=True),
                "l1_ratio": FloatDistribution(0, 1),
            },
            user_attrs={"epochs_run": epochs, "best_epoch": epochs},
        )
    )
    with transaction(engine) as session:
        session.execute(
            update(StudyRow)
            .where(StudyRow.id == row.id)
            .values(status=StudyStatus.COMPLETED, n_done=1, finished_at=utcnow())
        )
    return row, study._study_id


def test_a_study_deleted_while_its_best_model_retrains_stops_the_retraining(
    apps: Apps, caplog: pytest.LogCaptureFixture
) -> None:
    api = apps()
    storage = get_storage()
    row, osid = _completed(get_engine(), storage)
    worker = Worker()
    saving = threading.Thread(target=worker._save_best_model, args=(row.id,), daemon=True)
    caplog.set_level(logging.INFO, logger="regtune")
    saving.start()
    try:
        wait_for(  # the choice is recorded just before the retraining starts
            lambda: CHOSEN_TRIAL_ATTR in storage.get_study_user_attrs(osid),
            what="the retraining to start",
        )
        assert worker.current == (row.id, None)
        assert api.delete(f"/v1/studies/{row.id}").status_code == 204
        worker.heartbeat.beat()  # the heartbeat's round trip: it reads the saved study's status
        saving.join(timeout=30)
        assert not saving.is_alive(), "the retraining went on after its study was deleted"
    finally:
        worker.stopping.set()  # ends it if it went on
        saving.join(timeout=60)
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name.startswith("regtune")]
    assert (
        logging.INFO,
        f"study {row.id}: deleted while its best model trained: the retraining stopped",
    ) in lines
    assert [line for line in lines if line[0] >= logging.WARNING] == []
    assert worker.current == (None, None)  # `regtune workers`: no longer on the deleted study


@pytest.fixture
def stores(database_url: str) -> Iterator[Stores]:
    upgrade(database_url)
    made = Stores(make_engine(database_url), storage_with_retries(database_url))
    yield made
    assert made.engine is not None and made.storage is not None
    made.engine.dispose()
    made.storage.engine.dispose()


def test_a_retraining_whose_lease_another_worker_took_over_stops(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its lease ran out (a worker paused past ``LEASE``) and another worker's catch-up took it:
    that one saves the model, this one stops at its next renewal (was: a warning every renewal,
    naming Optuna's study id, and the retraining to its end)."""
    assert stores.engine is not None and stores.storage is not None
    monkeypatch.setattr(model_lease, "LEASE", timedelta(seconds=0.3))
    row, osid = _completed(stores.engine, stores.storage)
    started = time.monotonic()

    def stop() -> None:
        later = utcnow() + timedelta(seconds=1)  # this worker's lease has run out by then
        model_lease.take_lease(osid, "other", engine=stores.engine, now=later)
        if time.monotonic() - started > 20:
            raise AssertionError("the retraining went on without its lease")

    with pytest.raises(RefitStopped) as stopped:
        save_best_model(row.id, stop=stop, stores=stores)
    assert str(stopped.value) == LEASE_LOST


def test_a_retraining_that_fails_once_its_study_is_gone_is_stopped_not_failed(
    stores: Stores,
) -> None:
    """Deleted between two checks, the study is not there to upload the model to: that is its
    deletion, not a failure of the save."""
    assert stores.engine is not None and stores.storage is not None
    engine, storage = stores.engine, stores.storage
    row, _ = _completed(engine, storage, epochs=3)

    def stop() -> None:  # regtune's delete: the Optuna study, then the row
        with contextlib.suppress(KeyError):
            optuna.delete_study(study_name=row.optuna_name, storage=storage)
        with transaction(engine) as session:
            session.execute(delete(StudyRow).where(StudyRow.id == row.id))

    with pytest.raises(RefitStopped) as stopped:
        save_best_model(row.id, stop=stop, stores=stores)
    assert str(stopped.value) == DELETED


def test_a_failed_try_of_a_deleted_study_is_not_recorded(stores: Stores) -> None:
    """Was ``KeyError: 'Record does not exist.'`` from the record of the failure itself."""
    assert stores.engine is not None and stores.storage is not None
    row, osid = _completed(stores.engine, stores.storage)
    optuna.delete_study(study_name=row.optuna_name, storage=stores.storage)
    missing_models.record_failure(
        row.id, osid, error="OSError: gone", engine=stores.engine, storage=stores.storage
    )
    with transaction(stores.engine) as session:
        left = session.get(StudyRow, row.id)
        assert left is not None and left.error is None  # no try counted against it
