"""Worker registry: who is alive, where, and what it is running."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from optuna.trial import TrialState
from sqlalchemy import (
    Engine,
    Select,
    String,
    Subquery,
    cast,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from regtune.service.settings import Settings, get_settings
from regtune.service.store.clock import utcnow
from regtune.service.store.db import get_engine, outages, rowcount, transaction
from regtune.service.store.optuna_db.attrs import (
    CLAIM_ATTR,
    LEASE_UNTIL,
    LEASE_WORKER,
    MODEL_LEASE_ATTR,
    PATH_CLAIM_PREFIX,
)
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
class Work:
    """A study a worker is at (with its tenant), and the trial of it it runs, if any."""

    study_id: str
    tenant: str
    trial_number: int | None = None


@dataclass(frozen=True)
class Doing:
    """What the store says a live worker is doing now. Its heartbeat's study and trial are up
    to a heartbeat interval old (the trial may have ended, a setup may have started it, a save
    may have begun), so each fact, with its study, is read from the slots, the trials and the
    leases as they are, never from the heartbeat."""

    running: Work | None
    """The RUNNING trial linked to a slot it holds (a fused pass's or a λ path's several: the
    lowest-numbered), with its claim's study."""
    saving: Work | None
    """A study whose best-model lease names it (the latest to run out, if several do)."""
    lease: str | None
    """That lease's stored JSON: ``repos.model_lease`` reads whether it still holds."""
    claimed: Work | None
    """The study of a slot of its own (not a λ path's further point): a claim, set up or run."""


class json_text(FunctionElement[str]):
    """The value of ``key`` in a JSON object stored as text (Optuna's ``value_json``), as text,
    in SQL: what joins a best-model lease to the worker it names."""

    type = String()
    inherit_cache = True
    name = "json_text"

    def __init__(self, stored: Any, key: str) -> None:
        super().__init__(stored, literal(key, String()))


@compiles(json_text, "sqlite")
def _json_text_sqlite(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    stored, key = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"json_extract({stored}, '$.' || {key})"


@compiles(json_text, "postgresql")
def _json_text_postgresql(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    stored, key = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"(CAST({stored} AS JSON) ->> {key})"


def at_work(
    *, engine: Engine | None = None, now: datetime | None = None
) -> list[tuple[WorkerRow, Doing]]:
    """``live`` workers and what each is doing (``Doing``), in one statement: a listing."""
    alive = WorkerRow.alive(now=now or utcnow(), default=get_settings().grace_period)
    trial, tried, lease = om.TrialModel, om.TrialSystemAttributeModel, om.StudySystemAttributeModel
    claim_json = cast(ClaimRow.id, String)  # json.dumps of the id, as links.link_trial wrote it
    running = _first(
        select(ClaimRow.worker_id, ClaimRow.study_id, StudyRow.tenant, trial.number)
        .join(StudyRow, StudyRow.id == ClaimRow.study_id)
        .join(trial, trial.study_id == StudyRow.optuna_study_id)
        .join(tried, tried.trial_id == trial.trial_id)
        .where(
            trial.state == TrialState.RUNNING,
            tried.value_json == claim_json,
            or_(tried.key == CLAIM_ATTR, tried.key.startswith(PATH_CLAIM_PREFIX)),
        ),
        trial.number,
    )
    saving = _first(
        select(
            json_text(lease.value_json, LEASE_WORKER).label("worker_id"),
            StudyRow.id.label("study_id"),
            StudyRow.tenant,
            lease.value_json,
        )
        .join(StudyRow, StudyRow.optuna_study_id == lease.study_id)
        .where(lease.key == MODEL_LEASE_ATTR),
        json_text(lease.value_json, LEASE_UNTIL).desc(),  # ISO times: their text sorts as they do
    )
    claimed = _first(
        select(ClaimRow.worker_id, ClaimRow.study_id, StudyRow.tenant)
        .join(StudyRow, StudyRow.id == ClaimRow.study_id)
        .where(ClaimRow.reserved.is_(False)),
        ClaimRow.id,
    )
    with transaction(engine) as session:
        found = session.execute(
            select(
                WorkerRow,
                *(running.c.study_id, running.c.tenant, running.c.number),
                *(saving.c.study_id, saving.c.tenant, saving.c.value_json),
                *(claimed.c.study_id, claimed.c.tenant),
            )
            .outerjoin(running, running.c.worker_id == WorkerRow.id)
            .outerjoin(saving, saving.c.worker_id == WorkerRow.id)
            .outerjoin(claimed, claimed.c.worker_id == WorkerRow.id)
            .where(alive)
            .order_by(WorkerRow.started_at, WorkerRow.id)
        ).all()
        return [
            (row, Doing(_work(r, rt, number), _work(s, st), lease_json, _work(c, ct)))
            for row, r, rt, number, s, st, lease_json, c, ct in found
        ]


def _first(facts: Select[*tuple[Any, ...]], *order: Any) -> Subquery:
    """Each worker's first row of ``facts`` (whose ``worker_id`` names it) in ``order``: one row
    per worker, however many slots, trials or leases it has."""
    nth = func.row_number().over(partition_by=facts.selected_columns.worker_id, order_by=order)
    ranked = facts.add_columns(nth.label("nth")).subquery()
    return select(ranked).where(ranked.c.nth == 1).subquery()


def _work(study_id: str | None, tenant: str | None, trial_number: int | None = None) -> Work | None:
    return None if study_id is None or tenant is None else Work(study_id, tenant, trial_number)


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
