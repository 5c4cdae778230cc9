"""The claim protocol: take a trial slot, finish it, and give back slots of dead workers.

Every state change that can race is one conditional UPDATE whose row count says who won, so the
protocol is the same on SQLite (writers serialized) and PostgreSQL (row locks, READ COMMITTED).
``n_done`` and ``n_running`` live on the study row: a claim is allowed only while
``n_done + n_running < n_trials``, which is what keeps the budget exact with any number of workers.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from optuna.trial import TrialState
from sqlalchemy import Engine, Select, String, case, cast, delete, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from regtune.service.spec.enums import ACTIVE, StudyStatus
from regtune.service.store.clock import utcnow
from regtune.service.store.db import rowcount, transaction
from regtune.service.store.optuna_db.attrs import CLAIM_ATTR, RETRY_OF_ATTR
from regtune.service.store.optuna_db.internals import om, trial_completed_utc, trial_started_utc
from regtune.service.store.tables import ClaimRow, StudyRow, WorkerRow

log = logging.getLogger(__name__)

DIED_BEFORE_TRIAL = (
    "a worker died after claiming a slot, before its trial started (killed, or out of memory "
    "while loading the data or building the sampler)"
)
DEADLINE_MESSAGE = (
    "budget.timeout_s passed before budget.n_trials trials were done; the study ended with the "
    "trials it had (progress.done)"
)
SWEPT = "(sweep)"
"""The worker id of a slot left to the sweep (a worker id that never heartbeats)."""


@dataclass(frozen=True)
class Claim:
    """A slot taken in a study, with what the worker needs to run it (no second read)."""

    id: int
    study_id: str
    seq: int
    optuna_name: str
    definition: dict[str, Any]
    """The validated definition the API stored; the worker never re-validates it."""


def _done_subquery(study: type[StudyRow] = StudyRow) -> Any:
    return (
        select(func.count())
        .where(
            om.TrialModel.study_id == study.optuna_study_id,
            om.TrialModel.state.in_([TrialState.COMPLETE, TrialState.PRUNED]),
        )
        .scalar_subquery()
    )


def _monotonic_done() -> Any:
    """``max(n_done, count of COMPLETE/PRUNED)``: a stale snapshot can never lower the count."""
    done = _done_subquery()
    return case((done > StudyRow.n_done, done), else_=StudyRow.n_done)


def _tenant_running() -> Any:
    """Trials running in all studies of the claimed study's tenant."""
    same = aliased(StudyRow)
    return (
        select(func.coalesce(func.sum(same.n_running), 0))
        .where(same.tenant == StudyRow.tenant)
        .scalar_subquery()
    )


def _eligible(now: datetime, tenant_max_running: int = 0) -> list[Any]:
    found = [
        StudyRow.status.in_(ACTIVE),
        StudyRow.optuna_study_id.is_not(None),  # None while the study is being created
        StudyRow.n_running < StudyRow.max_parallel,
        StudyRow.n_done + StudyRow.n_running < StudyRow.n_trials,
        or_(StudyRow.deadline.is_(None), StudyRow.deadline > now),
    ]
    if tenant_max_running > 0:
        found.append(_tenant_running() < tenant_max_running)
    return found


def _least_recently_served(now: datetime, tenant_max_running: int = 0) -> Select[Any]:
    return (
        select(StudyRow.id)
        .where(*_eligible(now, tenant_max_running))
        .order_by(StudyRow.last_served_at.asc().nulls_first(), StudyRow.created_at, StudyRow.id)
    )


TENANT_LOCK_CLASS = 0x7267
"""First key of the PostgreSQL advisory locks that serialize claims of one tenant."""


def _tenant_locked(session: Session, study_id: str) -> bool:
    """PostgreSQL: take the study's tenant's claim lock for this transaction, without waiting.

    Under READ COMMITTED the claim's UPDATE sees every claim committed before it started, and
    claims of other studies of the tenant commit only after this lock is released, so the sum
    of the tenant's running trials it checks is exact. Never waiting means no deadlock with the
    row lock a concurrent claimer holds; a claimer that loses tries the next study."""
    locked = session.scalar(
        select(
            func.pg_try_advisory_xact_lock(TENANT_LOCK_CLASS, func.hashtext(StudyRow.tenant))
        ).where(StudyRow.id == study_id)
    )
    return bool(locked)


def _take(
    session: Session, study_id: str, *, now: datetime, tenant_max_running: int = 0
) -> tuple[int, str, dict[str, Any]] | None:
    """The one conditional UPDATE that decides a claim: the study's row if this one won the slot.

    ``RETURNING`` hands back the claim's sequence number, the Optuna study and the definition in
    the same round trip.
    """
    taken = session.execute(
        update(StudyRow)
        .where(StudyRow.id == study_id, *_eligible(now, tenant_max_running))
        .values(
            n_running=StudyRow.n_running + 1,
            n_claims=StudyRow.n_claims + 1,
            last_served_at=now,
            status=StudyStatus.RUNNING,
            started_at=func.coalesce(StudyRow.started_at, now),
            updated_at=now,
        )
        .returning(StudyRow.n_claims, StudyRow.optuna_name, StudyRow.spec)
        .execution_options(synchronize_session=False)
    ).first()
    return None if taken is None else (int(taken[0]), str(taken[1]), dict(taken[2]))


def claim(
    engine: Engine | None = None,
    *,
    worker_id: str,
    now: datetime | None = None,
    tenant_max_running: int = 0,
) -> Claim | None:
    """Take one slot in the least recently served study that has room, or return None.

    PostgreSQL first tries ``FOR UPDATE SKIP LOCKED``: a study row another worker is claiming
    right now is skipped for the next one, so concurrent claimers spread over studies instead of
    queueing on one row. If that finds nothing (every eligible row is locked, or the database
    ignores row locks, as SQLite does), candidates are tried in order and the conditional UPDATE
    decides. Either way ``n_done + n_running < n_trials``, ``n_running < max_parallel`` and
    (``tenant_max_running`` > 0, ``REGTUNE_TENANT_MAX_RUNNING``) the tenant's running trials
    below that cap are checked by the statement that takes the slot, so all three hold exactly.
    """
    now = now or utcnow()
    cap = tenant_max_running
    with transaction(engine) as session:
        postgresql = session.get_bind().dialect.name == "postgresql"
        candidates: list[str] = []
        if postgresql:
            locked = session.scalar(
                _least_recently_served(now, cap).limit(1).with_for_update(skip_locked=True)
            )
            candidates = [locked] if locked is not None else []
        if not candidates:
            candidates = list(session.scalars(_least_recently_served(now, cap).limit(8)))
        for study_id in candidates:
            if cap > 0 and postgresql and not _tenant_locked(session, study_id):
                continue
            taken = _take(session, study_id, now=now, tenant_max_running=cap)
            if taken is None:
                continue
            seq, optuna_name, definition = taken
            row = ClaimRow(
                study_id=study_id, worker_id=worker_id, seq=int(seq or 0), claimed_at=now
            )
            session.add(row)
            session.flush()
            return Claim(
                id=row.id,
                study_id=study_id,
                seq=row.seq,
                optuna_name=optuna_name,
                definition=definition,
            )
    return None


def finish(
    engine: Engine | None = None,
    *,
    claim_id: int,
    study_id: str,
    error: str | None = None,
    now: datetime | None = None,
    failed_by_sweep: timedelta | None = None,
) -> bool:
    """Give the slot back and bring ``n_done`` up to date; complete or fail the study if due.

    ``failed_by_sweep`` (the grace period) is for a slot whose trial a sweep failed as stale
    while this worker ran it: if that sweep has not queued the retry yet, the slot is handed to
    the sweep (``SWEPT``), which gives it back once the retry is queued, so the next claim runs
    the retry (``release_dead_workers``). Returns True if this call completed the study (exactly
    one finisher sees True), which is the worker's cue to save the best model.
    """
    now = now or utcnow()
    with transaction(engine) as session:
        release = delete(ClaimRow).where(ClaimRow.id == claim_id)
        if failed_by_sweep is not None:
            claimed_at = session.scalar(select(ClaimRow.claimed_at).where(ClaimRow.id == claim_id))
            if claimed_at is not None:
                pending = _retry_in_flight(claim_id, claimed_at, now - failed_by_sweep)
                release = release.where(~pending)
        released = rowcount(session.execute(release))
        if not released and failed_by_sweep is not None:
            session.execute(
                update(ClaimRow)
                .where(ClaimRow.id == claim_id)
                .values(worker_id=SWEPT)
                .execution_options(synchronize_session=False)
            )
        values: dict[str, object] = {"n_done": _monotonic_done(), "updated_at": now}
        if released == 1:
            values["n_running"] = StudyRow.n_running - 1
        if error is not None:
            values["n_errors"] = StudyRow.n_errors + 1
            values["error"] = error[:2000]
        session.execute(
            update(StudyRow)
            .where(StudyRow.id == study_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return settle(session, study_id=study_id, now=now) > 0


def settle(session: Session, *, study_id: str | None = None, now: datetime) -> int:
    """Move studies whose budget, deadline or error budget is spent to their final status.

    Returns how many studies this statement completed.
    """
    where: list[Any] = [StudyRow.status.in_(ACTIVE)]
    if study_id is not None:
        where.append(StudyRow.id == study_id)
    short = StudyRow.n_done < StudyRow.n_trials
    completed = session.execute(
        update(StudyRow)
        .where(
            *where,
            or_(
                StudyRow.n_done >= StudyRow.n_trials,
                (StudyRow.deadline.is_not(None))
                & (StudyRow.deadline <= now)
                & (StudyRow.n_running == 0),
            ),
        )
        .values(
            status=StudyStatus.COMPLETED,
            finished_at=now,
            updated_at=now,
            error=case((short, DEADLINE_MESSAGE), else_=StudyRow.error),
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(StudyRow)
        .where(*where, StudyRow.n_errors > StudyRow.max_retries)
        .values(status=StudyStatus.FAILED, finished_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return rowcount(completed)


def link_trial(storage: Any, trial_id: int, claim: Claim, engine: Engine | None = None) -> bool:
    """Mark the trial as running under ``claim``; False if the claim was released meanwhile.

    The trial's heartbeat is recorded first, so a linked RUNNING trial can always go stale; from
    then on the sweep keeps the slot for as long as the trial runs (``release_dead_workers``).
    """
    storage.record_heartbeat(trial_id)
    storage.set_trial_system_attr(trial_id, CLAIM_ATTR, claim.id)
    with transaction(engine) as session:
        return session.get(ClaimRow, claim.id) is not None


def _trial_of(claim_id: int, *where: Any) -> Any:
    """Whether a trial linked to this claim (``CLAIM_ATTR``) meets ``where``."""
    attr = om.TrialSystemAttributeModel
    return (
        select(attr.trial_id)
        .join(om.TrialModel, om.TrialModel.trial_id == attr.trial_id)
        .where(attr.key == CLAIM_ATTR, attr.value_json == json.dumps(claim_id), *where)
        .exists()
    )


def _running_trial_of(claim_id: int) -> Any:
    return _trial_of(claim_id, om.TrialModel.state == TrialState.RUNNING)


def _retry_in_flight(claim_id: int, claimed_at: datetime, since: datetime) -> Any:
    """Whether a trial of this claim failed at or after ``since`` and its retry is not queued yet.

    Failing a stale trial and queuing its retry are two writes (Optuna's ``fail_stale_trials``,
    then the storage's callback). A slot given back between the two goes to a fresh trial; once
    that spends the budget, the retry lands on an ended study and is failed unrun. So the slot
    waits for the retry; ``since`` bounds the wait when whoever failed the trial died before
    queuing the retry (or no retry is due: the objective raised, retries ran out).
    """
    attr, retry = om.TrialSystemAttributeModel, aliased(om.TrialSystemAttributeModel)
    queued = select(retry.trial_id).where(
        retry.key == RETRY_OF_ATTR, retry.value_json == cast(attr.trial_id, String)
    )
    return _trial_of(
        claim_id,
        om.TrialModel.state == TrialState.FAIL,
        trial_started_utc() >= claimed_at,
        trial_completed_utc() >= since,
        ~queued.exists(),
    )


def _active(study_id: str) -> Any:
    """Whether the study still schedules trials (an ended study has no retry to wait for)."""
    return select(StudyRow.id).where(StudyRow.id == study_id, StudyRow.status.in_(ACTIVE)).exists()


def _any_trial_of(claim_id: int, claimed_at: datetime) -> Any:
    """Whether a trial started under this claim (SQLite reuses the ids of deleted claims, so a
    trial linked to an older claim of the same id, started before this one, does not count)."""
    return _trial_of(claim_id, trial_started_utc() >= claimed_at).select()


def fail_study_killed_by(
    optuna_study_id: int, *, number: int, deaths: int, engine: Engine | None = None
) -> bool:
    """End a study whose trial ``number`` killed its worker ``deaths`` times (no retries left).

    Such a trial would kill every worker that claims it; the study fails with the reason, as
    it does when the objective raises more than ``max_retries`` times. True if it was active.
    """
    now = utcnow()
    error = (
        f"trial {number}: the worker running it died {deaths} times (killed, or out of memory: "
        "see REGTUNE_WORKER_MEMORY_MB); no retries left (budget.max_retries)"
    )
    with transaction(engine) as session:
        ended = session.execute(
            update(StudyRow)
            .where(StudyRow.optuna_study_id == optuna_study_id, StudyRow.status.in_(ACTIVE))
            .values(
                status=StudyStatus.FAILED,
                n_errors=StudyRow.n_errors + 1,
                error=error,
                finished_at=now,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
    return rowcount(ended) == 1


def release_dead_workers(
    engine: Engine | None = None, *, grace: timedelta, now: datetime | None = None
) -> int:
    """Give back the slots of workers whose heartbeat stopped; return how many were released.

    A worker is dead when its ``last_seen`` is older than ``grace`` (or its row is gone). A slot
    whose trial is still RUNNING is kept even then: the trial's own Optuna heartbeat decides
    (``fail_stale_trials`` runs first in a sweep), so a slow but live worker can never complete a
    trial whose slot was already counted again elsewhere. A slot whose trial was just failed is
    kept until that trial's retry is queued (``_retry_in_flight``), so the next claim runs the
    retry, unless the study has ended (no retry is due then). Each release is one conditional
    DELETE that re-checks these conditions.
    """
    now = now or utcnow()
    cutoff = now - grace
    alive = select(WorkerRow.id).where(WorkerRow.last_seen >= cutoff)
    released = 0
    with transaction(engine) as session:
        orphaned = session.execute(
            select(ClaimRow.id, ClaimRow.study_id, ClaimRow.worker_id, ClaimRow.claimed_at)
            .where(ClaimRow.claimed_at < cutoff, ClaimRow.worker_id.not_in(alive))
            .order_by(ClaimRow.id)
        ).all()
        for claim_id, study_id, worker_id, claimed_at in orphaned:
            gone = session.execute(
                delete(ClaimRow).where(
                    ClaimRow.id == claim_id,
                    ClaimRow.worker_id.not_in(alive),
                    ~_running_trial_of(claim_id),
                    or_(~_retry_in_flight(claim_id, claimed_at, cutoff), ~_active(study_id)),
                )
            )
            if rowcount(gone) != 1:
                continue
            values: dict[str, Any] = {
                "n_running": StudyRow.n_running - 1,
                "n_done": _monotonic_done(),
                "updated_at": now,
            }
            if not session.scalar(_any_trial_of(claim_id, claimed_at)):
                # it died before its trial started: loading the data or building the sampler
                # killed it (out of memory?); a study doing that to every worker must end
                values.update(n_errors=StudyRow.n_errors + 1, error=DIED_BEFORE_TRIAL)
            session.execute(
                update(StudyRow)
                .where(StudyRow.id == study_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            released += 1
            log.warning("released the slot of dead worker %s in study %s", worker_id, study_id)
        session.execute(delete(WorkerRow).where(WorkerRow.last_seen < cutoff))
        settle(session, now=now)
    return released
