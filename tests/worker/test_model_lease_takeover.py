"""A save that takes a study's best-model lease over says so, once: whose save it was, since when
its worker has been silent (or that a sweep removed it), and which worker saves the model now;
the save then says which trial it retrains.

A worker killed while it saved a model holds no slot, so no sweep's line names its death: the
only line about the study was another worker's `best model saved from trial 5`, 90 s later.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from regtune.service.settings import Settings
from regtune.service.store.clock import utcnow
from regtune.service.store.db import transaction
from regtune.service.store.repos import model_lease
from regtune.service.store.scheduling import workers
from regtune.service.store.tables import WorkerRow
from regtune.worker.loop import Worker
from tests.worker.test_model_lease import _completed_study, completed_without_a_model

LEASE_LOGGER = "regtune.service.store.repos.model_lease"


def takeovers(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LEASE_LOGGER]


def test_the_worker_taking_a_dead_savers_lease_over_says_so_once(
    api: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    created, study = completed_without_a_model(api, "saver-killed")
    killed = Worker()  # retraining the best trial when it was killed
    workers.register(killed.id, settings=killed.settings)
    assert model_lease.take_lease(study._study_id, "its-save", worker_id=killed.id)
    with transaction() as session:  # a minute of silence, past its grace period (20 s)
        session.execute(
            update(WorkerRow)
            .where(WorkerRow.id == killed.id)
            .values(last_seen=utcnow() - timedelta(minutes=1))
        )

    idle = Worker()
    workers.register(idle.id, settings=idle.settings)
    idle._sweep()  # removes the dead worker, then its catch-up saves the model

    [line] = takeovers(caplog)
    said = line.getMessage()
    assert line.levelno == logging.WARNING, said
    assert said.startswith(f"study {created['id']}: worker {killed.id}, saving its best model,")
    assert "is dead: gone from the worker registry" in said, said
    assert "it last renewed its lease" in said, said
    assert said.endswith(f"worker {idle.id} takes the save over"), said
    assert line.dead_worker_id == killed.id  # type: ignore[attr-defined]

    messages = [r.getMessage() for r in caplog.records if r.name == "regtune.worker.best_model"]
    retraining = [m for m in messages if "to save its best model" in m]
    assert retraining == [
        f"study {created['id']}: retraining trial {study.best_trial.number} to save its best model"
    ], messages
    assert messages.index(retraining[0]) < next(
        i for i, m in enumerate(messages) if "best model saved from trial" in m
    ), messages
    assert api.get(f"/v1/studies/{created['id']}/best-model").status_code == 200


def test_a_takeover_says_since_when_the_holder_has_been_silent_or_that_it_is_stuck(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine, study = _completed_study(sqlite_url)
    osid, now = study._study_id, utcnow()
    saver = Settings(database_url=sqlite_url, heartbeat_interval=5, grace_period=20)
    workers.register("saver", engine=engine, settings=saver)
    workers.register("next", engine=engine, settings=saver)
    with engine.begin() as connection:  # heard from at ``now``, to the second the line says
        connection.execute(update(WorkerRow).where(WorkerRow.id == "saver").values(last_seen=now))
    assert model_lease.take_lease(osid, "a", worker_id="saver", engine=engine, now=now)
    assert model_lease.take_lease(osid, "a", worker_id="saver", engine=engine, now=now)
    assert takeovers(caplog) == []  # a first take and a renewal say nothing

    silent = now + timedelta(seconds=21)
    assert model_lease.take_lease(osid, "b", worker_id="next", engine=engine, now=silent)
    [line] = takeovers(caplog)
    assert line.levelno == logging.WARNING
    assert line.getMessage() == (
        f"study done: worker saver, saving its best model, is dead: its last heartbeat 21 s "
        f"ago, at {now:%Y-%m-%d %H:%M:%S} UTC, past its 20 s grace period; worker next takes "
        "the save over"
    )

    # "next" beats on, but its save renews nothing past the lease: stuck
    late = silent + model_lease.LEASE
    with engine.begin() as connection:
        connection.execute(update(WorkerRow).where(WorkerRow.id == "next").values(last_seen=late))
    assert model_lease.take_lease(osid, "c", worker_id="saver", engine=engine, now=late)
    said = takeovers(caplog)[-1].getMessage()
    assert said == (
        f"study done: worker next, saving its best model, still beats but let its lease run out "
        f"at {late:%Y-%m-%d %H:%M:%S} UTC (its save stuck?); worker saver takes the save over"
    )
    assert len(takeovers(caplog)) == 2
    engine.dispose()
