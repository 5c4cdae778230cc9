"""``GET /v1/workers`` tells a worker setting a claimed trial up (loading a big study's data
takes seconds) from one saving a study's best model: both show the study and no trial, and
README said a listing without a trial meant the latter."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from regtune.service.settings import Settings
from regtune.service.store.scheduling import workers
from regtune.service.store.scheduling.claims.taking import claim
from tests.inprocess import cli_output
from tests.service.test_rest_contract import definition


def test_a_worker_setting_up_its_claim_is_told_from_one_saving_a_best_model(
    api: TestClient,
) -> None:
    study = api.post("/v1/studies", json=definition("activity")).json()
    settings = Settings(heartbeat_interval=1, grace_period=60)
    for worker_id in ("idle", "setting-up", "running", "saving"):
        workers.register(worker_id, settings=settings)
    taken = claim(worker_id="setting-up")
    assert taken is not None and taken.study_id == study["id"]
    workers.beat("setting-up", study_id=study["id"], trial_number=None)
    assert claim(worker_id="running") is not None
    workers.beat("running", study_id=study["id"], trial_number=0)
    workers.beat("saving", study_id=study["id"], trial_number=None)  # holds no slot

    listed = {w["id"]: w for w in api.get("/v1/workers").json()}
    assert {w: (v["study_id"], v["trial_number"], v["activity"]) for w, v in listed.items()} == {
        "idle": (None, None, "idle"),
        "setting-up": (study["id"], None, "setting_up"),
        "running": (study["id"], 0, "running_trial"),
        "saving": (study["id"], None, "saving_best_model"),
    }


def test_regtune_workers_says_what_a_worker_without_a_trial_does(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = api.post("/v1/studies", json=definition("activity-cli")).json()
    settings = Settings(heartbeat_interval=1, grace_period=60)
    for worker_id in ("idle", "setting-up", "saving"):
        workers.register(worker_id, settings=settings)
    assert claim(worker_id="setting-up") is not None
    workers.beat("setting-up", study_id=study["id"], trial_number=None)
    workers.beat("saving", study_id=study["id"], trial_number=None)

    shown = cli_output(api, monkeypatch, "workers")  # the table's lines joined by spaces
    rows = dict(re.findall(r"│ ([a-z-]+) │ [^│]+ │ \d+ │ [^│]+ │ ([^│]+?) │ \d{4}-", shown))
    assert rows == {"idle": "-", "setting-up": "setting up", "saving": "saving model"}
