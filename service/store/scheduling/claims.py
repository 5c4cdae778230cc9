"""The claim protocol: take a trial slot, finish it, and give back slots of dead workers.

Every state change that can race is one conditional UPDATE whose row count says who won, so the
protocol is the same on SQLite (writers serialized) and PostgreSQL (row locks, READ COMMITTED).
``n_done`` and ``n_running`` live on the study row: a claim is allowed only while
``n_done + n_running < n_trials``, which is what keeps the budget exact with any number of workers.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from optuna.trial import TrialState
from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    Integer,
    Select,
    String,
    Text,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased

from regtune.service.spec.enums import ACTIVE, StudyStatus
from regtune.service.store.clock import utcnow
from regtune.service.store.db import rowcount, transaction
from regtune.service.store.optuna_db.attrs import CLAIM_ATTR, PATH_CLAIM_PREFIX, RETRY_OF_ATTR
from regtune.service.store.optuna_db.internals.expressions import (
    open_trials,
    trial_completed_utc,
    trial_started_utc,
)
from regtune.service.store.optuna_db.internals.handles import backend_of, om
from regtune.service.store.optuna_db.internals.running_writes import RunningTrialWrites
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

NOW: Any = bindparam("now", type_=DateTime)
"""The statements of a claim and its finish are built once per process (``@cache``) with their
values as named parameters: building one costs more CPU than running it."""
CAP: Any = bindparam("cap", type_=Integer)
STUDY: Any = bindparam("study", type_=String)
CLAIM_ID: Any = bindparam("claim", type_=Integer)
SKIP: Any = bindparam("skip", expanding=True, type_=String)
"""Studies the claimer cannot run (``claim_slots``' ``skip``)."""


@dataclass(frozen=True)
class Claim:
    """A slot taken in a study, with what the worker needs to run it (no second read)."""

    id: int
    study_id: str
    seq: int
    optuna_name: str
    definition: dict[str, Any]
    """The validated definition the API stored; the worker never re-validates it."""
    waiting: bool = True
    """Whether the study had WAITING trials (retries, enqueued trials) when the slot was taken:
    if not, the worker's ask need not look for one (``WorkerHeartbeats.claimed``)."""


def _done_subquery(study: type[StudyRow] = StudyRow) -> Any:
    return (
        select(func.count())
        .where(
            om.TrialModel.study_id == study.optuna_study_id,
            om.TrialModel.state.in_([TrialState.COMPLETE, TrialState.PRUNED]),
        )
        .scalar_subquery()
    )


def monotonic_done(*, told: bool = False) -> Any:
    """``max(n_done, count of COMPLETE/PRUNED)``: a stale snapshot can never lower the count.

    ``told``: this transaction itself made a trial COMPLETE or PRUNED, in the same commit as
    this count, so ``n_done + 1``, without a count: every finish of a worker's trial is counted
    so, and a count walks the whole study (0.7 ms at 10,000 trials on SQLite, and growing). It is
    also what keeps the count exact when two such transactions race on PostgreSQL: the second
    waits for the study row and reads the first's ``n_done``. Trials finished some other way (a
    dead worker's told trial, a trial told from outside regtune) are counted by the finishes that
    count and by every sweep (``recount_done``)."""
    if told:
        return StudyRow.n_done + 1
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


def _has_room(now: Any) -> list[Any]:
    """The study schedules trials and its budget has a slot left (reserved ones count) at
    ``now`` (a time, or the ``NOW`` parameter)."""
    return [
        StudyRow.status.in_(ACTIVE),
        StudyRow.optuna_study_id.is_not(None),  # None while the study is being created
        StudyRow.n_done + StudyRow.n_running + StudyRow.n_reserved < StudyRow.n_trials,
        or_(StudyRow.deadline.is_(None), StudyRow.deadline > now),
    ]


def _eligible(capped: bool) -> list[Any]:
    """The study may take a slot now (``NOW``), with the tenant's cap (``CAP``) if ``capped``."""
    found = [*_has_room(NOW), StudyRow.n_running < StudyRow.max_parallel]
    if capped:
        found.append(_tenant_running() < CAP)
    return found


@cache
def _least_recently_served(capped: bool, *, locked: bool, skipping: bool) -> Select[Any]:
    """Candidates by last service: the first unlocked one (``locked``: PostgreSQL's ``SKIP
    LOCKED``), else the first eight; none of ``SKIP`` if ``skipping`` (an expanding IN is
    rendered again at every execution, so the usual claim, which skips nothing, leaves it out)."""
    eligible = _eligible(capped)
    if skipping:
        eligible.append(StudyRow.id.not_in(SKIP))
    query = (
        select(StudyRow.id)
        .where(*eligible)
        .order_by(StudyRow.last_served_at.asc().nulls_first(), StudyRow.created_at, StudyRow.id)
    )
    return query.limit(1).with_for_update(skip_locked=True) if locked else query.limit(8)


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
    taken = (
        session.connection()
        .execute(
            _take_statement(tenant_max_running > 0),
            {"study": study_id, "now": now, "cap": tenant_max_running},
        )
        .first()
    )
    return None if taken is None else (int(taken[0]), str(taken[1]), dict(taken[2]))


@cache
def _take_statement(capped: bool) -> Any:
    return (
        update(StudyRow)
        .where(StudyRow.id == STUDY, *_eligible(capped))
        .values(
            n_running=StudyRow.n_running + 1,
            n_claims=StudyRow.n_claims + 1,
            last_served_at=NOW,
            status=StudyStatus.RUNNING,
            started_at=func.coalesce(StudyRow.started_at, NOW),
            updated_at=NOW,
        )
        .returning(StudyRow.n_claims, StudyRow.optuna_name, StudyRow.spec)
    )


@cache
def _claim_row() -> Any:
    return insert(ClaimRow).returning(ClaimRow.id)


def claim(
    engine: Engine | None = None,
    *,
    worker_id: str,
    now: datetime | None = None,
    tenant_max_running: int = 0,
    skip: Collection[str] = (),
) -> Claim | None:
    """Take one slot in the least recently served study that has room (none of ``skip``), or
    return None."""
    taken = claim_slots(
        engine,
        worker_id=worker_id,
        slots=1,
        now=now,
        tenant_max_running=tenant_max_running,
        skip=skip,
    )
    return taken[0] if taken else None


def claim_slots(
    engine: Engine | None = None,
    *,
    worker_id: str,
    slots: int,
    now: datetime | None = None,
    tenant_max_running: int = 0,
    study_id: str | None = None,
    skip: Collection[str] = (),
) -> list[Claim]:
    """Take up to ``slots`` slots of one study, the least recently served that has room and is
    not in ``skip`` (studies the caller cannot run), or ``study_id``, if it has room: more slots
    of a study whose definition the caller has read.

    Every slot is its own claim (a row the sweep releases on its own), so a worker running
    several trials of one study at once (a λ path, fused trials) keeps the budget exact exactly
    as one trial does. The list is empty if no study has room; shorter than ``slots`` if the
    chosen study's budget or ``max_parallel`` left fewer.

    PostgreSQL first tries ``FOR UPDATE SKIP LOCKED``: a study row another worker is claiming
    right now is skipped for the next one, so concurrent claimers spread over studies instead of
    queueing on one row. If that finds nothing (every eligible row is locked, or the database
    ignores row locks, as SQLite does), candidates are tried in order and the conditional UPDATE
    decides. Either way ``n_done + n_running < n_trials``, ``n_running < max_parallel`` and
    (``tenant_max_running`` > 0, ``REGTUNE_TENANT_MAX_RUNNING``) the tenant's running trials
    below that cap are checked by the statement that takes each slot, so all three hold exactly.
    """
    if slots < 1:
        raise ValueError(f"slots must be >= 1, not {slots}")
    now = now or utcnow()
    cap = tenant_max_running
    bound: dict[str, Any] = {"now": now, "cap": cap}
    if skip:
        bound["skip"] = list(skip)
    with transaction(engine) as session:
        connection = session.connection()
        postgresql = connection.dialect.name == "postgresql"
        candidates: list[str] = [] if study_id is None else [study_id]
        if postgresql and study_id is None:
            locked = connection.scalar(
                _least_recently_served(cap > 0, locked=True, skipping=bool(skip)), bound
            )
            candidates = [locked] if locked is not None else []
        if not candidates and study_id is None:
            candidates = list(
                connection.scalars(
                    _least_recently_served(cap > 0, locked=False, skipping=bool(skip)), bound
                )
            )
        for candidate in candidates:
            if cap > 0 and postgresql and not _tenant_locked(session, candidate):
                continue
            taken: list[Claim] = []
            while len(taken) < slots:
                won = _take(session, candidate, now=now, tenant_max_running=cap)
                if won is None:
                    break
                number, optuna_name, definition = won
                seq = int(number or 0)
                row = {"study_id": candidate, "worker_id": worker_id, "seq": seq, "claimed_at": now}
                taken.append(
                    Claim(
                        id=int(connection.execute(_claim_row(), row).scalar_one()),
                        study_id=candidate,
                        seq=seq,
                        optuna_name=optuna_name,
                        definition=definition,
                    )
                )
            if taken:
                waiting = connection.scalar(_has_waiting(), {"study": candidate})
                return [dataclasses.replace(c, waiting=bool(waiting)) for c in taken]
    return []


def path_claim_key(claim_id: int) -> str:
    return f"{PATH_CLAIM_PREFIX}{claim_id}"


def extend(
    engine: Engine | None = None,
    *,
    claim: Claim,
    worker_id: str,
    slots: int,
    trial_id: int,
    now: datetime | None = None,
) -> list[Claim]:
    """Reserve up to ``slots`` more slots of ``claim``'s study for the trial ``trial_id`` that
    runs under it (a λ path's further points), linked to that trial in the same transaction.

    A reserved slot counts against the budget (``n_reserved``), not against ``max_parallel``
    or the tenant's cap, which bound the claims running at once: a path is one. All are taken
    by one conditional UPDATE that re-checks the budget, as a claim is; the link
    (``path_claim_key``) makes the sweep treat every one as the trial's own: kept while it
    runs, given back (with no error counted) once it failed and its retry is queued. They carry
    the first claim's time, so the trial counts as started under each of them."""
    if slots < 1:
        return []
    now = now or utcnow()
    with transaction(engine) as session:
        first = session.scalar(select(ClaimRow.claimed_at).where(ClaimRow.id == claim.id))
        study = session.execute(
            select(StudyRow.n_trials, StudyRow.n_done, StudyRow.n_running, StudyRow.n_reserved)
            .where(StudyRow.id == claim.study_id)
            .with_for_update()
        ).first()
        if first is None or study is None:
            return []
        count = min(slots, study[0] - study[1] - study[2] - study[3])
        if count < 1:
            return []
        won = session.execute(
            update(StudyRow)
            .where(
                StudyRow.id == claim.study_id,
                *_has_room(now),
                StudyRow.n_done + StudyRow.n_running + StudyRow.n_reserved + count
                <= StudyRow.n_trials,
            )
            .values(n_reserved=StudyRow.n_reserved + count, n_claims=StudyRow.n_claims + count)
            .returning(StudyRow.n_claims)
            .execution_options(synchronize_session=False)
        ).first()
        if won is None:  # the budget moved since the read: a shorter path next time
            return []
        last = int(won[0])
        seqs = list(range(last - count + 1, last + 1))
        rows = [
            {
                "study_id": claim.study_id,
                "worker_id": worker_id,
                "seq": seq,
                "claimed_at": first,
                "reserved": True,
            }
            for seq in seqs
        ]
        connection = session.connection()  # Core: the ORM's bulk path costs more per row
        claims: Any = ClaimRow.__table__
        ids = (
            connection.execute(
                insert(claims).returning(claims.c.id, sort_by_parameter_order=True), rows
            )
            .scalars()
            .all()
        )
        connection.execute(
            insert(om.TrialSystemAttributeModel.__table__),
            [
                {"trial_id": trial_id, "key": path_claim_key(i), "value_json": json.dumps(i)}
                for i in ids
            ],
        )
    return [replace(claim, id=i, seq=seq) for i, seq in zip(ids, seqs, strict=True)]


@cache
def _has_waiting() -> Any:
    """Whether the study ``STUDY`` has a WAITING trial. Read after the slot is taken, in a
    statement of its own: under READ COMMITTED it sees every retry queued before the slot it
    took was released."""
    return (
        select(om.TrialModel.trial_id)
        .join(StudyRow, StudyRow.optuna_study_id == om.TrialModel.study_id)
        .where(StudyRow.id == STUDY, open_trials(), om.TrialModel.state == TrialState.WAITING)
        .exists()
        .select()
    )


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
    with transaction(engine) as session:
        return finish_in(
            session,
            claim_id=claim_id,
            study_id=study_id,
            error=error,
            now=now or utcnow(),
            failed_by_sweep=failed_by_sweep,
        )


def finish_in(
    session: Session,
    *,
    claim_id: int,
    study_id: str,
    now: datetime,
    error: str | None = None,
    failed_by_sweep: timedelta | None = None,
    told: bool = False,
) -> bool:
    """``finish`` in the caller's transaction: a worker finishes the slot of a COMPLETE or
    PRUNED trial in the transaction that tells the trial (``told``; no retry is due for
    either)."""
    session.flush()  # the statements below run on the session's connection
    connection = session.connection()
    release = _release()
    if failed_by_sweep is not None:
        claimed_at = session.scalar(select(ClaimRow.claimed_at).where(ClaimRow.id == claim_id))
        if claimed_at is not None:
            pending = _retry_in_flight(claim_id, claimed_at, now - failed_by_sweep)
            release = release.where(~pending)
    released = rowcount(connection.execute(release, {"claim": claim_id}))
    if not released and failed_by_sweep is not None:
        session.execute(
            update(ClaimRow)
            .where(ClaimRow.id == claim_id)
            .values(worker_id=SWEPT)
            .execution_options(synchronize_session=False)
        )
    counted = {"study": study_id, "now": now, "error_text": (error or "")[:2000]}
    connection.execute(
        _count(released=released == 1, errored=error is not None, told=told), counted
    )
    return settle(session, study_id=study_id, now=now, failures=error is not None) > 0


@cache
def _release() -> Any:
    return delete(ClaimRow).where(ClaimRow.id == CLAIM_ID)


@cache
def _count(*, released: bool, errored: bool, told: bool) -> Any:
    """The study's counts after a finish: ``n_done`` brought up to date, the slot given back if
    ``released``, the error counted if ``errored``."""
    values: dict[str, object] = {"n_done": monotonic_done(told=told), "updated_at": NOW}
    if released:
        values["n_running"] = StudyRow.n_running - 1
    if errored:
        values["n_errors"] = StudyRow.n_errors + 1
        values["error"] = bindparam("error_text", type_=Text)
    return update(StudyRow).where(StudyRow.id == STUDY).values(**values)


TOLD_DONE = (TrialState.COMPLETE, TrialState.PRUNED)


def finish_when_told(storage: Any, trial_id: int, claim: Claim) -> list[bool] | None:
    """Finish ``claim``'s slot in the transaction that tells its trial COMPLETE or PRUNED (no
    retry is due for either: a FAIL is finished after its retry is queued, as before).

    Returns the list that receives ``finish``'s answer once the trial is told so, or None if the
    storage cannot or the trial does not run in this process (then, as for every FAIL, the worker
    calls ``finish`` itself)."""
    backend = backend_of(storage)
    if not isinstance(backend, RunningTrialWrites):
        return None
    told: list[bool] = []

    def then(connection: Connection, state: TrialState) -> None:
        if state not in TOLD_DONE:
            return
        with Session(bind=connection) as session:
            told.append(
                finish_in(
                    session, claim_id=claim.id, study_id=claim.study_id, now=utcnow(), told=True
                )
            )

    return told if backend.when_ended(trial_id, then) else None


def settle(
    session: Session, *, study_id: str | None = None, now: datetime, failures: bool = True
) -> int:
    """Move studies whose budget, deadline or error budget is spent to their final status;
    ``failures=False``: the caller's transaction counted no error, so no error budget can have
    been spent by it (one statement instead of two: a λ path's write, a trial's success).

    Returns how many studies this statement completed.
    """
    session.flush()  # the statements below run on the session's connection
    connection = session.connection()
    completes, fails = _settle(one_study=study_id is not None)
    bound = {"now": now, "study": study_id}
    completed = connection.execute(completes, bound)
    if failures:
        connection.execute(fails, bound)
    return rowcount(completed)


@cache
def _settle(*, one_study: bool) -> tuple[Any, Any]:
    """The UPDATEs that complete and fail studies (the study ``STUDY`` if ``one_study``)."""
    where: list[Any] = [StudyRow.status.in_(ACTIVE)]
    if one_study:
        where.append(StudyRow.id == STUDY)
    short = StudyRow.n_done < StudyRow.n_trials
    completes = (
        update(StudyRow)
        .where(
            *where,
            or_(
                StudyRow.n_done >= StudyRow.n_trials,
                (StudyRow.deadline.is_not(None))
                & (StudyRow.deadline <= NOW)
                & (StudyRow.n_running == 0)
                & (StudyRow.n_reserved == 0),
            ),
        )
        .values(
            status=StudyStatus.COMPLETED,
            finished_at=NOW,
            updated_at=NOW,
            error=case((short, DEADLINE_MESSAGE), else_=StudyRow.error),
        )
    )
    fails = (
        update(StudyRow)
        .where(*where, StudyRow.n_errors > StudyRow.max_retries)
        .values(status=StudyStatus.FAILED, finished_at=NOW, updated_at=NOW)
    )
    return completes, fails


def link_trial(
    storage: Any,
    trial_id: int,
    claim: Claim,
    engine: Engine | None = None,
    *,
    attrs: dict[str, Any] | None = None,
) -> bool:
    """Mark the trial as running under ``claim``; False if the claim was released meanwhile.

    The trial's heartbeat is recorded first, so a linked RUNNING trial can always go stale; from
    then on the sweep keeps the slot for as long as the trial runs (``release_dead_workers``).
    With regtune's storage the heartbeat, the link, the trial's other system ``attrs`` and the
    check are one transaction.
    """
    linked = {**(attrs or {}), CLAIM_ATTR: claim.id}
    backend = backend_of(storage)
    if isinstance(backend, RunningTrialWrites):
        return bool(
            backend.start_trial(
                trial_id, linked, select(ClaimRow.id).where(ClaimRow.id == claim.id)
            )
        )
    storage.record_heartbeat(trial_id)
    for key, value in linked.items():
        storage.set_trial_system_attr(trial_id, key, value)
    with transaction(engine) as session:
        return session.get(ClaimRow, claim.id) is not None


def _trial_of(claim_id: int, *where: Any) -> Any:
    """Whether a trial linked to this claim (``CLAIM_ATTR``, or a λ path's
    ``path_claim_key``) meets ``where``."""
    attr = om.TrialSystemAttributeModel
    linked = or_(
        and_(attr.key == CLAIM_ATTR, attr.value_json == json.dumps(claim_id)),
        attr.key == path_claim_key(claim_id),
    )
    return (
        select(attr.trial_id)
        .join(om.TrialModel, om.TrialModel.trial_id == attr.trial_id)
        .where(linked, *where)
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
            select(
                ClaimRow.id,
                ClaimRow.study_id,
                ClaimRow.worker_id,
                ClaimRow.claimed_at,
                ClaimRow.reserved,
            )
            .where(ClaimRow.claimed_at < cutoff, ClaimRow.worker_id.not_in(alive))
            .order_by(ClaimRow.id)
        ).all()
        for claim_id, study_id, worker_id, claimed_at, reserved in orphaned:
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
            values: dict[str, Any] = {"n_done": monotonic_done(), "updated_at": now}
            if reserved:
                values["n_reserved"] = StudyRow.n_reserved - 1
            else:
                values["n_running"] = StudyRow.n_running - 1
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
        recount_done(session, now=now)
        settle(session, now=now)
    return released


def recount_done(session: Session, *, now: datetime) -> int:
    """Bring every active study's ``n_done`` up to its COMPLETE and PRUNED trials → how many
    studies had trials no finish counted (told from outside regtune, e.g. optuna-dashboard's
    human-in-the-loop tell); the sweep's part of ``monotonic_done``."""
    done = _done_subquery()
    return rowcount(
        session.execute(
            update(StudyRow)
            .where(
                StudyRow.status.in_(ACTIVE),
                StudyRow.optuna_study_id.is_not(None),
                done > StudyRow.n_done,
            )
            .values(n_done=done, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    )
