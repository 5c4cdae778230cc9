"""Worker registry: who is alive, where, and what it is running."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from optuna.trial import TrialState
from sqlalchemy import Engine, String, cast, delete, or_, select, update

from regtune.service.settings import Settings, get_settings
from regtune.service.store.clock import utcnow
from regtune.service.store.db import get_engine, outages, rowcount, transaction
from regtune.service.store.optuna_db.attrs import CLAIM_ATTR, MODEL_LEASE_ATTR, PATH_CLAIM_PREFIX
from regtune.service.store.optuna_db.internals.handles import om
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


@dataclass(frozen=True)
class Doing:
    """What the store says a live worker is doing now: its heartbeat's study and trial are up
    to a heartbeat interval old (the trial may have ended, a claim's setup may have started
    it), so each fact is read from the slots, the trials and the leases as they are."""

    running: bool
    """The trial its heartbeat names is RUNNING, or one linked to a slot it holds is."""
    holds_slot: bool
    """It holds a slot of its own (not a λ path's further point): a claim, set up or run."""
    lease: str | None
    """The best-model lease (its stored JSON) of the study its heartbeat names, whoever holds
    it: ``repos.model_lease`` reads it."""
    tenant: str | None
    """The tenant of the study its heartbeat names."""


def at_work(
    *, engine: Engine | None = None, now: datetime | None = None
) -> list[tuple[WorkerRow, Doing]]:
    """``live`` workers and what each is doing (``Doing``), in one statement: a listing."""
    alive = WorkerRow.alive(now=now or utcnow(), default=get_settings().grace_period)
    trial, tried, lease = om.TrialModel, om.TrialSystemAttributeModel, om.StudySystemAttributeModel
    running = TrialState.RUNNING
    named = (
        select(trial.trial_id)
        .join(StudyRow, StudyRow.optuna_study_id == trial.study_id)
        .where(
            StudyRow.id == WorkerRow.study_id,
            trial.number == WorkerRow.trial_number,
            trial.state == running,
        )
        .correlate(WorkerRow)
        .exists()
    )
    claim_json = cast(ClaimRow.id, String)  # json.dumps of the id, as links.link_trial wrote it
    in_slot = (
        select(ClaimRow.id)
        .join(StudyRow, StudyRow.id == ClaimRow.study_id)
        .join(trial, trial.study_id == StudyRow.optuna_study_id)
        .join(tried, tried.trial_id == trial.trial_id)
        .where(
            ClaimRow.worker_id == WorkerRow.id,
            trial.state == running,
            tried.value_json == claim_json,
            or_(tried.key == CLAIM_ATTR, tried.key.startswith(PATH_CLAIM_PREFIX)),
        )
        .correlate(WorkerRow)
        .exists()
    )
    holds = (
        select(ClaimRow.id)
        .where(ClaimRow.worker_id == WorkerRow.id, ClaimRow.reserved.is_(False))
        .correlate(WorkerRow)
        .exists()
    )
    leased = (
        select(lease.value_json)
        .join(StudyRow, StudyRow.optuna_study_id == lease.study_id)
        .where(StudyRow.id == WorkerRow.study_id, lease.key == MODEL_LEASE_ATTR)
        .correlate(WorkerRow)
        .scalar_subquery()
    )
    tenant = select(StudyRow.tenant).where(StudyRow.id == WorkerRow.study_id).scalar_subquery()
    with transaction(engine) as session:
        found = session.execute(
            select(WorkerRow, or_(named, in_slot), holds, leased, tenant)
            .where(alive)
            .order_by(WorkerRow.started_at, WorkerRow.id)
        ).all()
        return [(row, Doing(bool(r), bool(h), lease_json, t)) for row, r, h, lease_json, t in found]


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
