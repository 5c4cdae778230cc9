"""Worker registry: who is alive, where, and what it is running."""

from __future__ import annotations

import os
import socket
import uuid

from sqlalchemy import delete, select, update

from service.claims import utcnow
from service.db import rowcount, transaction
from service.tables import WorkerRow


def new_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def register(worker_id: str) -> None:
    now = utcnow()
    with transaction() as session:
        session.add(
            WorkerRow(
                id=worker_id,
                host=socket.gethostname(),
                pid=os.getpid(),
                started_at=now,
                last_seen=now,
            )
        )


def beat(worker_id: str, *, study_id: str | None, trial_number: int | None) -> None:
    """Record that the worker is alive; re-register if a sweep removed it meanwhile."""
    with transaction() as session:
        updated = rowcount(
            session.execute(
                update(WorkerRow)
                .where(WorkerRow.id == worker_id)
                .values(last_seen=utcnow(), study_id=study_id, trial_number=trial_number)
                .execution_options(synchronize_session=False)
            )
        )
    if updated == 0:
        register(worker_id)


def unregister(worker_id: str) -> None:
    with transaction() as session:
        session.execute(delete(WorkerRow).where(WorkerRow.id == worker_id))


def live() -> list[WorkerRow]:
    with transaction() as session:
        return list(session.scalars(select(WorkerRow).order_by(WorkerRow.started_at)))
