"""A worker a sweep took for dead (paused past its grace period) registers again when it comes
back, and ``GET /v1/workers`` still shows when it started: its ``started_at`` was the time of its
return, as if another process had started."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from regtune.service.store.clock import utcnow
from regtune.service.store.db import transaction
from regtune.service.store.scheduling.sweep import sweep
from regtune.service.store.tables import WorkerRow
from tests.inprocess import Apps, worker_thread
from tests.support import wait_for

SILENT: dict[str, Any] = {"heartbeat_interval": 20, "grace_period": 60}
"""No heartbeat of the worker's own while the test ages it: it beats every 20 s."""


def _listed(api: TestClient, worker_id: str) -> dict[str, Any] | None:
    return next((w for w in api.get("/v1/workers").json() if w["id"] == worker_id), None)


def test_a_worker_back_from_being_declared_dead_keeps_its_start_time(apps: Apps) -> None:
    api = apps(**SILENT)
    with worker_thread() as running:
        worker = running.worker
        first = wait_for(lambda: _listed(api, worker.id), timeout=60, what="the worker listed")
        with transaction() as session:  # silent for an hour: the sweep removes its row
            session.execute(
                update(WorkerRow)
                .where(WorkerRow.id == worker.id)
                .values(last_seen=utcnow() - timedelta(hours=1))
            )
        sweep()
        assert _listed(api, worker.id) is None  # declared dead
        worker.heartbeat.beat()  # back from its pause: its heartbeat registers it again

        again = _listed(api, worker.id)
        assert again is not None
        assert again["last_heartbeat"] > first["last_heartbeat"], (first, again)
        assert again["started_at"] == first["started_at"], (first, again)
