"""A worker running λ paths honours SIGTERM and a cancel as it does for a single trial: a path
stopped mid-way is handed back (or ends with its cancelled study) with none of its points
written and every slot it reserved given back, and a worker signalled while it sets a claim up
starts no trial. It ran the path to its end and wrote every point (the exact solve on the
support never looked for a stop): 17 s after SIGTERM, and 25 COMPLETE trials into a study
cancelled 5 s before."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from regtune.service.store.db import transaction
from regtune.service.store.tables import ClaimRow
from regtune.worker import objective
from regtune.worker.loop import Worker
from regtune.worker.trainers import path
from tests.inprocess import Apps

PATHS: dict[str, Any] = {
    "name": "stopped-paths",
    "dataset": {"builtin": "diabetes"},
    "model": {"kind": "linear"},
    "search_space": {
        "lambda": {"low": 1e-4, "high": 10.0, "log": True},
        "l1_ratio": {"low": 0.1, "high": 1.0},
    },
    "training": {"lambda_path": {"points": 8, "patience": None}},
    "validation": {"folds": 3},
    "sampler": {"type": "random", "seed": 0},
    "budget": {"n_trials": 64, "max_parallel": 1},
}
"""Paths of 8 λ values (24 points at relax 0, 0.4 and 0.8) on 10 features: every fold's exact
solve at once serves each point, which is where no stop was seen."""


def _study(api: TestClient) -> str:
    created = api.post("/v1/studies", json=PATHS)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _on_point(monkeypatch: pytest.MonkeyPatch, n: int, then: Callable[[], None]) -> None:
    """``then()`` as the path's ``n``-th point (λ) is solved: after the worker's check there."""
    solved = path._Solved.of
    count = [0]

    def counted(*args: Any, **kwargs: Any) -> list[Any]:
        count[0] += 1
        if count[0] == n:
            then()
        return solved(*args, **kwargs)

    monkeypatch.setattr(path._Solved, "of", counted)


def _claims(study_id: str) -> int:
    """The study's slots still held: the path's own and those it reserved for its points."""
    with transaction() as session:
        held = session.scalar(
            select(func.count()).select_from(ClaimRow).where(ClaimRow.study_id == study_id)
        )
        return int(held or 0)


def _states(api: TestClient, study_id: str) -> list[str]:
    trials = api.get(f"/v1/studies/{study_id}/trials", params={"limit": 100}).json()["items"]
    return [t["state"] for t in trials]


def _said(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name in ("regtune.worker.loop", "regtune.worker.trial_run")
    ]


def test_a_path_signalled_mid_way_is_handed_back_with_none_of_its_points(
    apps: Apps, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    api = apps()
    study_id = _study(api)
    worker = Worker()
    _on_point(monkeypatch, 3, lambda: worker.on_signal(signal.SIGTERM))
    caplog.set_level(logging.INFO, logger="regtune.worker")

    worker.run(max_trials=1)

    assert _states(api, study_id) == ["FAIL", "WAITING"]  # handed back, its knobs run again
    study = api.get(f"/v1/studies/{study_id}").json()
    assert study["progress"]["done"] == 0 and _claims(study_id) == 0, study
    assert f"signal 15: handed back study {study_id} trial 0" in _said(caplog)


def test_a_path_whose_study_is_cancelled_after_its_last_point_writes_none(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cancel reaches the worker (its heartbeat) once the path's last point was solved,
    after the solver's last look: the points are not written either."""
    api = apps()
    study_id = _study(api)
    worker = Worker()
    scored = path._points

    def cancelled_first(*args: Any, **kwargs: Any) -> list[path.PathPoint]:
        assert api.post(f"/v1/studies/{study_id}/cancel").status_code == 200
        worker.heartbeat.beat()
        return scored(*args, **kwargs)

    monkeypatch.setattr(path, "_points", cancelled_first)

    worker.run(max_trials=1)

    assert _states(api, study_id) == ["FAIL"]
    study = api.get(f"/v1/studies/{study_id}").json()
    assert study["status"] == "cancelled" and study["progress"]["done"] == 0, study
    assert study["end"]["stopped_by_cancel"] == 1, study["end"]
    assert _claims(study_id) == 0


def test_a_worker_signalled_while_it_sets_a_claim_up_starts_no_trial(
    apps: Apps, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    api = apps()
    study_id = _study(api)
    worker = Worker()
    threads = objective.set_threads  # the objective's first step of its setup

    def signalled() -> None:
        worker.on_signal(signal.SIGTERM)
        threads()

    monkeypatch.setattr(objective, "set_threads", signalled)
    caplog.set_level(logging.INFO, logger="regtune.worker")

    worker.run(max_trials=1)

    assert _states(api, study_id) == []
    study = api.get(f"/v1/studies/{study_id}").json()
    assert study["status"] in ("queued", "running") and study["progress"]["done"] == 0, study
    assert _claims(study_id) == 0  # the slot given back, uncounted
    said = _said(caplog)
    assert (
        f"study {study_id}: the worker is stopping; slot given back before its trial started"
        in said
    )
    assert "signal 15: no trial to hand back" in said
