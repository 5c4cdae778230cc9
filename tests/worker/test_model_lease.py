"""One saver per study: the finishing worker and an idle worker's catch-up can both reach a
completed study without a model; a lease keeps the second away while the first retrains, and the
first record of a trial stands even when a lease ran out mid-retraining."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import optuna
import pytest
from fastapi.testclient import TestClient
from optuna.artifacts import get_all_artifact_meta, upload_artifact
from sqlalchemy import select, update

from regtune.service.spec.definition import StudySpec
from regtune.service.spec.resolve import resolve_task
from regtune.service.store.clock import utcnow
from regtune.service.store.db import make_engine, transaction
from regtune.service.store.migrate import upgrade
from regtune.service.store.optuna_db.attrs import BEST_MODEL_ATTR
from regtune.service.store.repos import best_model, missing_models, model_files, model_lease
from regtune.service.store.scheduling.retries import get_storage, storage_with_retries
from regtune.service.store.tables import StudyRow
from tests.support import study_row


def completed_without_a_model(api: TestClient, name: str) -> tuple[dict[str, Any], optuna.Study]:
    """A study created through ``api``, its 2 trials run in this process, and marked completed
    as a finishing worker marks it: its best model not saved yet. The study as the API answered
    its creation, and its Optuna study."""
    from regtune.worker.objective import make_objective

    body = {
        "name": name,
        "dataset": {"builtin": "diabetes"},
        "search_space": {"lambda": {"low": 1e-3, "high": 1.0, "log": True}, "l1_ratio": 0.5},
        "budget": {"n_trials": 2},
    }
    created: dict[str, Any] = api.post("/v1/studies", json=body).json()
    spec = resolve_task(StudySpec.from_stored(created["definition"]))
    study = optuna.load_study(study_name=created["optuna_study_name"], storage=get_storage())
    study.optimize(make_objective(spec, stop_check=lambda: None), n_trials=2)
    with transaction() as session:
        session.execute(
            update(StudyRow)
            .where(StudyRow.id == created["id"])
            .values(status="completed", finished_at=utcnow())
        )
    return created, study


def _completed_study(database_url: str, name: str = "done") -> tuple[Any, optuna.Study]:
    upgrade(database_url)
    engine = make_engine(database_url)
    study = optuna.create_study(storage=storage_with_retries(database_url), study_name=name)
    study.add_trial(
        optuna.trial.create_trial(
            value=1.0,
            params={"x": 0.5},
            distributions={"x": optuna.distributions.FloatDistribution(0, 1)},
        )
    )
    with transaction(engine) as session:
        session.add(
            study_row(
                name,
                study._study_id,
                "completed",
                n_trials=1,
                max_retries=0,
                n_done=1,
                n_claims=1,
                finished_at=utcnow(),
            )
        )
    return engine, study


def test_a_leased_study_is_left_to_its_saver_until_the_lease_runs_out(database_url: str) -> None:
    engine, study = _completed_study(database_url)
    osid, now = study._study_id, utcnow()
    assert model_lease.take_lease(osid, "a", engine=engine, now=now)
    assert not model_lease.take_lease(osid, "b", engine=engine, now=now)
    assert model_lease.take_lease(osid, "a", engine=engine, now=now)  # renewed by its holder
    assert missing_models.studies_missing_a_model(engine, limit=5, now=now) == []

    later = now + model_lease.LEASE + timedelta(seconds=1)  # "a" died while retraining
    assert missing_models.studies_missing_a_model(engine, limit=5, now=later) == ["done"]
    assert model_lease.take_lease(osid, "b", engine=engine, now=later)
    assert not model_lease.take_lease(osid, "a", engine=engine, now=later)

    model_lease.release_lease(osid, "a", engine=engine)  # not its lease any more: no effect
    assert not model_lease.take_lease(osid, "c", engine=engine, now=later)
    model_lease.release_lease(osid, "b", engine=engine)
    assert model_lease.take_lease(osid, "c", engine=engine, now=later)
    engine.dispose()


def test_the_first_record_of_a_trial_stands(database_url: str) -> None:
    engine, study = _completed_study(database_url)
    osid = study._study_id
    with transaction(engine) as session:
        at = {"ended_at": session.scalars(select(StudyRow.finished_at)).one(), "engine": engine}
    first, second = {"artifact_id": "a", "trial": 0}, {"artifact_id": "b", "trial": 0}
    assert best_model.publish(osid, first, replaces=None, **at) == first
    assert best_model.publish(osid, second, replaces=None, **at) == first
    # a later trial replaces the record it was chosen over, and only that one
    newer = {"artifact_id": "c", "trial": 3}
    assert best_model.publish(osid, newer, replaces=first, **at) == newer
    assert best_model.publish(osid, second, replaces=first, **at) == newer
    # a saver that chose its trial at another end (the study was extended since) publishes none
    other_end = {**at, "ended_at": at["ended_at"] + timedelta(seconds=1)}
    assert best_model.publish(osid, {"artifact_id": "d"}, replaces=newer, **other_end) is None
    assert study.user_attrs[BEST_MODEL_ATTR] == newer
    engine.dispose()


def test_a_losing_savers_file_is_removed_from_the_store_and_the_dashboards_list(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from regtune.service.settings import Settings

    engine, study = _completed_study(database_url)
    settings = Settings(artifact_dir=tmp_path / "artifacts")
    store = model_files.artifact_store(settings)
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"weights")
    ids = [upload_artifact(artifact_store=store, file_path=str(model), study_or_trial=study)]
    ids.append(upload_artifact(artifact_store=store, file_path=str(model), study_or_trial=study))
    model_files.discard_artifact(study._study_id, ids[1], settings=settings, engine=engine)

    assert [meta.artifact_id for meta in get_all_artifact_meta(study)] == [ids[0]]
    assert sorted(p.name for p in (tmp_path / "artifacts").iterdir()) == [ids[0]]
    engine.dispose()


def test_two_workers_saving_at_once_leave_one_model(api: TestClient) -> None:
    """The finishing worker's save and a catch-up's, started together on a real study: one
    retrains, the other steps aside; one record, one file in the study's artifact list."""
    from regtune.worker.best_model import save_best_model

    created, _ = completed_without_a_model(api, "two-savers")

    records: list[dict[str, Any] | None] = []
    start = threading.Barrier(2)

    def save() -> None:
        start.wait()
        records.append(save_best_model(created["id"]))

    savers = [threading.Thread(target=save) for _ in range(2)]
    for saver in savers:
        saver.start()
    for saver in savers:
        saver.join()

    saved = [r for r in records if r is not None]
    assert len(saved) == 1  # the other found the lease held and stepped aside
    study = optuna.load_study(study_name=created["optuna_study_name"], storage=get_storage())
    listed = [meta.artifact_id for meta in get_all_artifact_meta(study)]
    assert listed == [saved[0]["artifact_id"]]
    assert study.user_attrs[BEST_MODEL_ATTR] == saved[0]
    assert missing_models.studies_missing_a_model(limit=5) == []  # the lease was given back
    shown = api.get(f"/v1/studies/{created['id']}/best-model")
    assert shown.status_code == 200
