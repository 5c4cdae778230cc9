"""A study whose stored definition a newer regtune wrote (a field or a value this code does not
know), met by a worker of this version, as in a rolling upgrade where older workers still run
beside a newer API: the worker gives the slot back uncounted and claims that study no more; the
study is left as it was for the newer workers.

Such a worker used to fail the study at once ("ValidationError: … Extra inputs are not
permitted"): a user's new study failed for being submitted during an upgrade."""

from __future__ import annotations

import json
import logging
from typing import Any

import optuna
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from regtune.service.store.db import get_engine
from regtune.service.store.optuna_db.attrs import BEST_MODEL_ATTR
from regtune.service.store.repos.missing_models import studies_missing_a_model
from regtune.service.store.scheduling.retries import get_storage
from regtune.worker.loop import Worker
from tests.inprocess import Apps


def _definition(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "dataset": {"builtin": "diabetes"},
        "model": {"kind": "linear"},
        "search_space": {"lambda": {"low": 1e-3, "high": 1.0, "log": True}},
        "pruner": {"type": "none"},
        "budget": {"n_trials": 1, "max_retries": 0},
    }


def _written_by_a_newer_regtune(study_id: str) -> None:
    """The definition as a newer API stores it: a knob and a field this code has never heard of."""
    with get_engine().begin() as connection:
        stored = connection.scalar(
            text("SELECT spec FROM regtune_studies WHERE id = :id"), {"id": study_id}
        )
        spec = json.loads(stored) if isinstance(stored, str) else dict(stored)
        spec["search_space"]["warp"] = {"low": 0.0, "high": 1.0}
        spec["tags"] = ["from-a-newer-api"]
        connection.execute(
            text("UPDATE regtune_studies SET spec = :spec WHERE id = :id"),
            {"spec": json.dumps(spec), "id": study_id},
        )


def test_a_study_a_newer_regtune_defined_is_left_to_newer_workers(apps: Apps) -> None:
    api: TestClient = apps()
    created = {}
    for name in ("newer", "ours"):  # "newer" first: the claim serves the oldest study first
        response = api.post("/v1/studies", json=_definition(name))
        assert response.status_code == 201, response.text
        created[name] = response.json()
    _written_by_a_newer_regtune(created["newer"]["id"])

    worker = Worker()
    assert worker.run(max_trials=1) == 1  # claimed "newer", gave it back, then ran "ours"

    with get_engine().connect() as connection:
        row = connection.execute(
            text(
                "SELECT status, n_running, n_done, n_errors, n_claims, error "
                "FROM regtune_studies WHERE id = :id"
            ),
            {"id": created["newer"]["id"]},
        ).one()
    assert row.status in ("queued", "running"), row
    assert (row.n_running, row.n_done, row.n_errors, row.error) == (0, 0, 0, None)
    assert row.n_claims == 1  # claimed once, then skipped: no claim-and-give-back loop
    assert worker.unknown == {created["newer"]["id"]}
    storage = get_storage()
    newer = optuna.load_study(study_name=created["newer"]["optuna_study_name"], storage=storage)
    assert newer.trials == []  # no FAIL trial saying why it "cannot run"
    ours = optuna.load_study(study_name=created["ours"]["optuna_study_name"], storage=storage)
    assert [t.state for t in ours.trials] == [optuna.trial.TrialState.COMPLETE]


def test_the_report_of_such_a_study_is_a_503_not_the_callers_fault(apps: Apps) -> None:
    """It was a 400 "bad_request": a report an API process of the newer regtune serves."""
    api: TestClient = apps()
    created = api.post("/v1/studies", json=_definition("newer"))
    assert created.status_code == 201, created.text
    _written_by_a_newer_regtune(created.json()["id"])

    response = api.get(f"/v1/studies/{created.json()['id']}/report")

    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"]
    error = response.json()["error"]
    assert error["code"] == "definition_too_new"
    assert "search_space.warp" in error["message"] and "newer regtune" in error["message"]


def test_an_idle_workers_catch_up_leaves_such_a_study_to_newer_workers(
    apps: Apps, caplog: pytest.LogCaptureFixture
) -> None:
    """A completed study of a newer regtune whose model is still to be saved: the catch-up
    logged a traceback on every sweep and, with that study always first, saved no other."""
    api: TestClient = apps()
    created = api.post("/v1/studies", json=_definition("newer"))
    assert created.status_code == 201, created.text
    worker = Worker()
    assert worker.run(max_trials=1) == 1  # completes the study and saves its model
    study = created.json()
    with get_engine().begin() as connection:  # as if the finishing worker died while saving
        connection.execute(
            text(
                "DELETE FROM study_user_attributes WHERE key = :key AND study_id = "
                "(SELECT optuna_study_id FROM regtune_studies WHERE id = :id)"
            ),
            {"key": BEST_MODEL_ATTR, "id": study["id"]},
        )
    _written_by_a_newer_regtune(study["id"])
    assert studies_missing_a_model(limit=5) == [study["id"]]

    with caplog.at_level(logging.WARNING):
        worker._sweep()
        worker._sweep()

    worker_lines = ("regtune.worker.loop", "regtune.worker.model_save")
    assert [r.levelname for r in caplog.records if r.name in worker_lines] == ["WARNING"]
    assert "left to newer workers" in caplog.records[-1].getMessage()
    assert studies_missing_a_model(limit=5, skip=worker.unknown) == []
