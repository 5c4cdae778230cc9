"""The sweep's lines carry the ids of the study, trial and worker they are about in their JSON
fields, not those of whatever the sweeping process runs: a study failed by a trial that killed
its worker, the stale trial, a dead worker's slot (was: ``"study_id": null, "trial": null``,
and the sweeping worker's id on the line about the dead one's slot)."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import optuna
import pytest
from sqlalchemy import update

from regtune.service import logs
from regtune.service.spec.definition import StudySpec
from regtune.service.store.clock import utcnow
from regtune.service.store.db import make_engine, transaction
from regtune.service.store.migrate import upgrade
from regtune.service.store.optuna_db.attrs import CLAIM_ATTR
from regtune.service.store.optuna_db.internals.handles import om, trial_id_of
from regtune.service.store.repos.study_creation import create_study
from regtune.service.store.scheduling.claims.taking import claim
from regtune.service.store.scheduling.retries import storage_with_retries
from regtune.service.store.scheduling.sweep import sweep
from regtune.service.store.tables import StudyRow

SWEEPER = "vm-17517-1777c1"
DEAD = "vm-5877-e12792"


@contextmanager
def json_lines() -> Iterator[io.StringIO]:
    """What regtune's store logs meanwhile, as the JSON lines of a pool's log."""
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(logs.JsonFormatter())
    store = logging.getLogger("regtune.service.store")
    store.addHandler(handler)
    try:
        yield written
    finally:
        store.removeHandler(handler)


def spec(name: str) -> StudySpec:
    return StudySpec.model_validate(
        {
            "name": name,
            "dataset": {"synthetic": {"kind": "sparse_regression"}},
            "task": "regression",
            "budget": {"n_trials": 4, "max_parallel": 1, "max_retries": 0},
        }
    )


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used")
def test_the_sweeps_lines_name_the_study_trial_and_dead_worker_they_are_about(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    upgrade(sqlite_url)
    engine, storage = make_engine(sqlite_url), storage_with_retries(sqlite_url)
    killme = create_study(spec("killme"), engine=engine, storage=storage)
    ended = create_study(spec(f"ended-{uuid.uuid4().hex[:6]}"), engine=engine, storage=storage)
    past = utcnow() - timedelta(minutes=5)
    taken = claim(engine=engine, worker_id=DEAD, now=past, skip=[ended.id])
    assert taken is not None and taken.study_id == killme.id
    trial = optuna.load_study(study_name=killme.optuna_name, storage=storage).ask()
    storage.set_trial_system_attr(trial_id_of(trial), CLAIM_ATTR, taken.id)
    orphan = optuna.load_study(study_name=ended.optuna_name, storage=storage).ask()
    with transaction(engine) as session:  # the worker beat, then died; the other study ended
        session.add(om.TrialHeartbeatModel(trial_id=trial_id_of(trial), heartbeat=past))
        session.execute(
            update(om.TrialModel)
            .where(om.TrialModel.trial_id.in_([trial_id_of(trial), trial_id_of(orphan)]))
            .values(_datetime_start_utc=past)
            .execution_options(synchronize_session=False)
        )
        session.execute(update(StudyRow).where(StudyRow.id == ended.id).values(status="cancelled"))

    caplog.set_level(logging.INFO, logger="regtune.service.store")
    named = logs.worker_var.set(SWEEPER)  # a worker sweeps between trials of its own
    try:
        with json_lines() as written, logs.context(study_id="its-own-study", trial=7):
            sweep(engine, storage, grace=timedelta(seconds=20))
    finally:
        logs.worker_var.reset(named)
    engine.dispose()
    storage.engine.dispose()

    lines: dict[str, dict[str, Any]] = {}
    for line in map(json.loads, written.getvalue().splitlines()):
        lines[line["msg"].split(":")[0]] = line
    ids = {msg: (line["study_id"], line["trial"], line["worker_id"]) for msg, line in lines.items()}
    assert ids == {
        f"study {killme.optuna_name} trial 0 failed": (killme.id, 0, SWEEPER),
        f"study {killme.optuna_name} failed": (killme.id, 0, SWEEPER),
        f"study {ended.optuna_name} trial 0 failed": (ended.id, 0, SWEEPER),
        f"released the slot of dead worker {DEAD} in study {killme.id}": (
            killme.id,
            None,
            SWEEPER,  # the process that wrote the line
        ),
    }, lines
    failed = lines[f"study {killme.optuna_name} failed"]
    assert failed["level"] == "ERROR"
    assert failed["msg"].endswith(": trial 0 killed its worker 1 time")
    released = lines[f"released the slot of dead worker {DEAD} in study {killme.id}"]
    assert released["dead_worker_id"] == DEAD
