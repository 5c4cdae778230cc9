"""A completed study whose best-model saver died is saved by another worker within about a grace
period of the death, and the API says who is saving it, or that nobody is.

The save's lease named no worker and ran 5 minutes: after SIGKILL of the worker retraining, no
worker's catch-up took the study for those 5 minutes (11 after a whole pool restarted), while
``regtune show`` said the model "is being saved … ask again in a moment". Now the lease names its
worker and holds only while that worker lives, judged as the sweep judges a worker and its trials
(its own grace period); the 5 minutes bound only a saver alive but stuck.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update

from regtune.service.settings import Settings
from regtune.service.store.clock import utcnow
from regtune.service.store.db import transaction
from regtune.service.store.repos import missing_models, model_lease
from regtune.service.store.scheduling import workers
from regtune.service.store.tables import WorkerRow
from regtune.worker.loop import Worker
from tests.worker.test_model_lease import _completed_study, completed_without_a_model


def test_a_lease_holds_only_while_its_worker_lives(sqlite_url: str) -> None:
    engine, study = _completed_study(sqlite_url)
    osid, now = study._study_id, utcnow()
    saver = Settings(database_url=sqlite_url, heartbeat_interval=5, grace_period=20)
    workers.register("saver", engine=engine, settings=saver)
    slow = Settings(database_url=sqlite_url, heartbeat_interval=30, grace_period=90)
    workers.register("slow", engine=engine, settings=slow)

    assert model_lease.take_lease(osid, "a", worker_id="saver", engine=engine, now=now)
    assert not model_lease.take_lease(osid, "b", worker_id="slow", engine=engine, now=now)
    assert missing_models.studies_missing_a_model(engine, limit=5, now=now) == []
    held = model_lease.saver(osid, engine=engine, now=now)
    assert held is not None and held.worker == "saver"

    silent = now + timedelta(seconds=21)  # the saver's grace period past, its lease not
    assert model_lease.saver(osid, engine=engine, now=silent) is None
    assert missing_models.studies_missing_a_model(engine, limit=5, now=silent) == ["done"]
    assert model_lease.take_lease(osid, "b", worker_id="slow", engine=engine, now=silent)
    assert not model_lease.take_lease(osid, "a", worker_id="saver", engine=engine, now=silent)

    # silent as long, a worker of a longer grace period still holds it; unregistered, not
    later = silent + timedelta(seconds=21)
    assert not model_lease.take_lease(osid, "c", worker_id="saver", engine=engine, now=later)
    workers.unregister("slow", engine=engine)
    assert model_lease.take_lease(osid, "c", worker_id="saver", engine=engine, now=later)
    engine.dispose()


def test_a_dead_savers_study_is_saved_by_the_next_catch_up(api: TestClient) -> None:
    created, study = completed_without_a_model(api, "saver-died")
    model = f"/v1/studies/{created['id']}/best-model"

    killed = Worker()  # the worker that completed the study, retraining its best trial
    workers.register(killed.id, settings=killed.settings)
    assert model_lease.take_lease(study._study_id, "its-save", worker_id=killed.id)
    saving = api.get(model)
    assert saving.status_code == 404
    said = saving.json()["error"]["message"]
    assert f"no best model yet: worker {killed.id} is saving it" in said, said

    # SIGKILL: its heartbeat stops; a minute later it is past its grace period (20 s)
    with transaction() as session:
        session.execute(
            update(WorkerRow)
            .where(WorkerRow.id == killed.id)
            .values(last_seen=utcnow() - timedelta(minutes=1))
        )
    waiting = api.get(model)
    assert waiting.status_code == 404
    said = waiting.json()["error"]["message"]
    assert "no best model yet: waiting for a worker to save it" in said, said

    idle = Worker()  # another worker, idle: its catch-up between claims
    workers.register(idle.id, settings=idle.settings)
    idle._sweep()
    saved = api.get(model)
    assert saved.status_code == 200, saved.text
    assert missing_models.studies_missing_a_model(limit=5) == []
