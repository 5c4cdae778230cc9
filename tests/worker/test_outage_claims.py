"""A claim whose uploaded data could not be read because the database went away gives its slot
back uncounted: the outage is not the study's error (with ``max_retries: 0`` it failed the
study, "the database failed: it refuses connections …")."""

from __future__ import annotations

import contextvars
import logging
import threading
import uuid

import numpy as np
import optuna
import pandas as pd
import pytest

from regtune.service.store.scheduling import workers
from regtune.service.store.scheduling.claims import taking
from regtune.service.store.scheduling.retries import get_storage
from regtune.worker.loop import Worker
from tests.inprocess import Apps
from tests.pg import PostgresServer
from tests.support import wait_for


def test_data_unread_for_an_outage_gives_the_slot_back_uncounted(
    apps: Apps, own_pg: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    api = apps(database_url=own_pg.create_database("data"), heartbeat_interval=1, grace_period=20)
    rng = np.random.default_rng(uuid.uuid4().int % 2**32)  # new bytes: no process cache has them
    frame = pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"])
    frame["y"] = frame["a"] - frame["b"]
    uploaded = api.post(
        "/v1/datasets",
        files={"file": ("rows.csv", frame.to_csv(index=False).encode())},
        data={"target": "y"},
    )
    assert uploaded.status_code == 201, uploaded.text
    body = {
        "name": "upload-outage",
        "dataset": {"id": uploaded.json()["id"]},
        "model": {"kind": "linear"},
        "search_space": {"lambda": {"low": 1e-3, "high": 1.0, "log": True}, "l1_ratio": 0.5},
        "training": {"lambda_path": None},
        "budget": {"n_trials": 1, "max_retries": 0},
    }
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    study_id = created.json()["id"]

    worker = Worker()
    workers.register(worker.id)
    claim = taking.claim(worker_id=worker.id)
    assert claim is not None and claim.study_id == study_id
    worker._load_study(claim.optuna_name)  # as after an earlier claim: only the data is read
    caplog.set_level(logging.INFO)
    own_pg.stop("fast")  # between the claim and the trial: the upload cannot be read
    runs = threading.Thread(target=contextvars.copy_context().run, args=(worker._run_claim, claim))
    runs.start()
    try:
        wait_for(
            lambda: any(
                "could not finish the trial slot" in r.getMessage() for r in caplog.records
            ),
            timeout=120,
            what="the slot's finish waiting for the database",
        )
    finally:
        own_pg.start()
        runs.join(timeout=120)
    assert not runs.is_alive()

    shown = api.get(f"/v1/studies/{study_id}").json()
    assert shown["status"] == "running", shown
    assert not shown.get("error"), shown
    study = optuna.load_study(study_name=claim.optuna_name, storage=get_storage())
    assert study.get_trials(deepcopy=False) == []  # no FAIL for the outage: it was not tried
    said = [r.getMessage() for r in caplog.records if r.name == "regtune.worker.trial_run"]
    assert any(
        m.startswith(f"study {study_id}: the database failed before the trial started (")
        and m.endswith("); slot given back")
        for m in said
    ), said
