"""Worker registry: who is alive, where, and what it is running."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Engine, delete, select, update

from regtune.service.settings import Settings, get_settings
from regtune.service.store.clock import utcnow
from regtune.service.store.db import get_engine, outages, rowcount, transaction
from regtune.service.store.optuna_db.internals.heartbeats import record_trial_heartbeat
from regtune.service.store.tables import ClaimRow, StudyRow, WorkerRow


def new_worker_id() -> str:
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def register(
    worker_id: str,
    *,
    engine: Engine | None = None,
    settings: Settings | None = None,
    started_at: datetime | None = None,
) -> None:
    """Record the worker with its heartbeat ``settings``: the sweep judges its silence by its
    own grace period, whatever the sweeper's. Without them, none is recorded and the sweeper's
    judges it (as a row an older regtune wrote). ``started_at``: when the worker started (now,
    if not given), kept when it registers again after a sweep removed it, so ``GET /v1/workers``
    shows its process's start, not its return from a pause."""
    now = utcnow()
    interval, grace = (
        (None, None) if settings is None else (settings.heartbeat_interval, settings.grace_period)
    )
    with transaction(engine) as session:
        session.merge(
            WorkerRow(
                id=worker_id,
                host=socket.gethostname(),
                pid=os.getpid(),
                started_at=started_at or now,
                last_seen=now,
                heartbeat_interval=interval,
                grace_period=grace,
            )
        )


def beat(
    worker_id: str,
    *,
    study_id: str | None,
    trial_number: int | None,
    trial_id: int | None = None,
    engine: Engine | None = None,
    settings: Settings | None = None,
    started_at: datetime | None = None,
) -> str | None:
    """Record that the worker is alive; re-register (with ``settings`` and ``started_at``, as
    ``register``) if a sweep removed it meanwhile.

    ``trial_id``: the trial it runs, whose (Optuna) heartbeat is recorded in the same
    transaction: one beat per worker, whatever it runs.

    Returns the status of ``study_id`` (None if it is gone or none was given): cancellation
    reaches a running trial on the heartbeat's round trip, not through a read every epoch.
    """
    with transaction(engine) as session:
        updated = rowcount(
            session.execute(
                update(WorkerRow)
                .where(WorkerRow.id == worker_id)
                .values(last_seen=utcnow(), study_id=study_id, trial_number=trial_number)
                .execution_options(synchronize_session=False)
            )
        )
        if trial_id is not None:
            record_trial_heartbeat(session.connection(), trial_id)
        status = (
            session.scalar(select(StudyRow.status).where(StudyRow.id == study_id))
            if study_id is not None
            else None
        )
    if updated == 0:
        register(worker_id, engine=engine, settings=settings, started_at=started_at)
    return status


def unregister(worker_id: str, *, engine: Engine | None = None) -> None:
    with transaction(engine) as session:
        session.execute(delete(WorkerRow).where(WorkerRow.id == worker_id))


def live(*, engine: Engine | None = None, now: datetime | None = None) -> list[WorkerRow]:
    """Workers whose heartbeat is within their own grace period (``WorkerRow.alive``), oldest
    first."""
    alive = WorkerRow.alive(now=now or utcnow(), default=get_settings().grace_period)
    with transaction(engine) as session:
        return list(
            session.scalars(
                select(WorkerRow).where(alive).order_by(WorkerRow.started_at, WorkerRow.id)
            )
        )


def setting_up(rows: Collection[WorkerRow], *, engine: Engine | None = None) -> set[str]:
    """Those of ``rows`` whose heartbeat shows a study and no trial while they hold a slot of
    that study: setting a claimed trial up (loading the study's data, building its sampler),
    not saving the study's best model, which holds no slot."""
    between = {(r.id, r.study_id) for r in rows if r.study_id and r.trial_number is None}
    if not between:
        return set()
    with transaction(engine) as session:
        held = session.execute(
            select(ClaimRow.worker_id, ClaimRow.study_id)
            .where(ClaimRow.worker_id.in_([w for w, _ in between]))
            .distinct()
        )
        return {w for w, s in held if (w, s) in between}


def living(
    worker_ids: Collection[str], *, engine: Engine | None = None, now: datetime | None = None
) -> set[str]:
    """Those of ``worker_ids`` alive as the sweep judges a worker: heard from within its own
    grace period (``WorkerRow.alive``), or not to be judged yet, this process having reached the
    database for less than that grace period (a silence it did not see may be an outage's). A
    worker whose row is gone (unregistered, or swept as dead) is not alive."""
    if not worker_ids:
        return set()
    engine = engine or get_engine()
    reached = outages.reached_for(engine)
    alive = WorkerRow.alive(
        now=now or utcnow(),
        default=get_settings().grace_period,
        steady=0.0 if reached is None else reached,
    )
    with transaction(engine) as session:
        return set(
            session.scalars(select(WorkerRow.id).where(WorkerRow.id.in_(list(worker_ids)), alive))
        )
