"""Taking slots: one or several of the least recently served study with room (``claim``,
``claim_slots``), and a λ path's further slots (``extend``)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection
from dataclasses import replace
from datetime import datetime
from functools import cache
from typing import Any

from optuna.trial import TrialState
from sqlalchemy import Engine, Integer, Select, String, bindparam, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from regtune.service.spec.enums import StudyStatus
from regtune.service.store.clock import utcnow
from regtune.service.store.db import transaction
from regtune.service.store.optuna_db.internals.expressions import open_trials
from regtune.service.store.optuna_db.internals.handles import om
from regtune.service.store.scheduling.claims.counts import NOW, STUDY, has_room
from regtune.service.store.scheduling.claims.slot import Claim, held, path_claim_key
from regtune.service.store.tables import ClaimRow, StudyRow

CAP: Any = bindparam("cap", type_=Integer)
SKIP: Any = bindparam("skip", expanding=True, type_=String)
"""Studies the claimer cannot run (``claim_slots``' ``skip``)."""


def _tenant_running() -> Any:
    """Trials running in all studies of the claimed study's tenant."""
    same = aliased(StudyRow)
    return (
        select(func.coalesce(func.sum(same.n_running), 0))
        .where(same.tenant == StudyRow.tenant)
        .scalar_subquery()
    )


def _eligible(capped: bool) -> list[Any]:
    """The study may take a slot now (``NOW``), with the tenant's cap (``CAP``) if ``capped``."""
    found = [*has_room(NOW), StudyRow.n_running < StudyRow.max_parallel]
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
    or the tenant's cap, which bound the claims running at once: a path is one. The study's
    WAITING trials (points an extension or the definition queued, retries) keep a slot each:
    the claims to come run them, and a path that took their slots would complete the study
    before they ran. All are taken by one conditional UPDATE that re-checks the budget, as a
    claim is; the link (``path_claim_key``) makes the sweep treat every one as the trial's own:
    kept while it runs, given back (with no error counted) once it failed and its retry is
    queued. They carry the first claim's time, so the trial counts as started under each of
    them."""
    if slots < 1:
        return []
    now = now or utcnow()
    with transaction(engine) as session:
        first = session.scalar(
            select(ClaimRow.claimed_at).where(
                *held(claim.id, study_id=claim.study_id, seq=claim.seq)
            )
        )
        study = session.execute(
            select(
                StudyRow.n_trials,
                StudyRow.n_done,
                StudyRow.n_running,
                StudyRow.n_reserved,
                StudyRow.optuna_study_id,
            )
            .where(StudyRow.id == claim.study_id)
            .with_for_update()
        ).first()
        if first is None or study is None:
            return []
        n_trials, n_done, n_running, n_reserved, optuna_study_id = study
        # a statement of its own, after the row lock: under READ COMMITTED it sees the points
        # of every extension committed before that lock was granted
        waiting = int(session.scalar(_waiting(), {"optuna_study": optuna_study_id}) or 0)
        count = min(slots, n_trials - n_done - n_running - n_reserved - waiting)
        if count < 1:
            return []
        won = session.execute(
            update(StudyRow)
            .where(
                StudyRow.id == claim.study_id,
                *has_room(now),
                StudyRow.n_done + StudyRow.n_running + StudyRow.n_reserved + (count + waiting)
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


@cache
def _waiting() -> Any:
    """How many WAITING trials the Optuna study ``optuna_study`` has: a count over the index of
    open trials (``regtune_ix_trials_open``), whose condition it repeats."""
    trials = om.TrialModel
    return select(func.count()).where(
        trials.study_id == bindparam("optuna_study", type_=Integer),
        open_trials(),
        trials.state == TrialState.WAITING,
    )
