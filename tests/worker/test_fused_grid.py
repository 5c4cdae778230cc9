"""A grid study's MLP trials in one fused pass: the pass tells every member, the last one too,
without Optuna's grid stopping the study from outside ``optimize``."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from tests.inprocess import run_to_the_end
from tests.worker.test_diverged_best import definition


def test_a_fused_grid_study_ends_its_pass_without_an_error(
    api: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Both grid points in one fused pass: telling the last one ran Optuna's grid
    ``study.stop()`` outside ``optimize``, which raised out of the pass ("fused trials failed",
    a traceback in the worker's log), skipping the release of that trial's claim and failing
    any member of the pass not yet told."""
    body = {**definition([0.01, 0.02], fused_trials=2), "name": "fused-grid"}
    body["training"]["max_epochs"] = 3
    body["budget"] = {"n_trials": 2, "max_parallel": 2}
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    with caplog.at_level(logging.INFO, logger="regtune.worker"):
        study = run_to_the_end(api, created.json()["id"])
    assert study["status"] == "completed" and study["error"] is None, study
    trials = api.get(f"/v1/studies/{study['id']}/trials").json()["items"]
    assert sorted(t["params"]["learning_rate"] for t in trials) == [0.01, 0.02]
    assert {t["state"] for t in trials} == {"COMPLETE"}, trials
    assert "started (fused)" in caplog.text  # one pass trained both
    assert "fused trials failed" not in caplog.text
