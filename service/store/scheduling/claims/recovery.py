"""What the sweep does for dead workers: give their slots back, fail a study one trial
keeps killing workers of, and recount ``n_done``."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, delete, or_, select, update
from sqlalchemy.orm import Session

from regtune.service import logs
from regtune.service.spec.enums import ACTIVE, StudyStatus
from regtune.service.store.clock import utcnow
from regtune.service.store.db import rowcount, transaction
from regtune.service.store.scheduling.claims.counts import done_subquery, monotonic_done
from regtune.service.store.scheduling.claims.finishing import settle
from regtune.service.store.scheduling.claims.links import (
    any_trial_of,
    retry_in_flight,
    running_trial_of,
    unlinked_trial_in_flight,
    unlinked_trial_of,
)
from regtune.service.store.tables import ClaimRow, StudyRow, WorkerRow

log = logging.getLogger(__name__)

DIED_BEFORE_TRIAL = (
    "a worker died after claiming a slot, before its trial started (killed, or out of memory "
    "while loading the data or building the sampler)"
)


def _active(study_id: str) -> Any:
    """Whether the study still schedules trials (an ended study has no retry to wait for)."""
    return select(StudyRow.id).where(StudyRow.id == study_id, StudyRow.status.in_(ACTIVE)).exists()


def fail_study_killed_by(
    optuna_study_id: int, *, number: int, deaths: int, engine: Engine | None = None
) -> bool:
    """End a study whose trial ``number`` killed its worker ``deaths`` times (no retries left).

    Such a trial would kill every worker that claims it; the study fails with the reason, as
    it does when the objective raises more than ``max_retries`` times. True if it was active.
    """
    now = utcnow()
    error = (
        f"trial {number}: the worker running it died {deaths} time{'' if deaths == 1 else 's'} "
        "(killed, or out of memory: "
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
    engine: Engine | None = None,
    *,
    grace: timedelta,
    now: datetime | None = None,
    steady: float = math.inf,
) -> int:
    """Give back the slots of workers whose heartbeat stopped; return how many were released.

    A worker is dead when its ``last_seen`` is older than its own grace period (``grace``, the
    sweeper's, for a row an older regtune wrote), or its row is gone; one whose grace period is
    longer than the ``steady`` seconds the sweeper has reached the database for is not judged
    yet (``WorkerRow.alive``). A slot
    whose trial is still RUNNING is kept even then: the trial's own Optuna heartbeat decides
    (``fail_stale_trials`` runs first in a sweep), so a slow but live worker can never complete a
    trial whose slot was already counted again elsewhere. A slot whose trial was just failed is
    kept until that trial's retry is queued (``retry_in_flight``), so the next claim runs the
    retry, unless the study has ended (no retry is due then). So is a slot whose worker died
    before it could link its trial (``unlinked_trial_in_flight``). Each release is one
    conditional DELETE that re-checks these conditions. A worker that died before any trial
    started under its slots of a study is one error of that study, however many it held
    (``_give_back``); one that died with a trial started under any of them, none: that trial's
    retry counts the death.
    """
    now = now or utcnow()
    cutoff = now - grace
    heard = WorkerRow.alive(now=now, default=grace.total_seconds(), steady=steady)
    alive = select(WorkerRow.id).where(heard)
    released: dict[tuple[str, str], _Released] = {}
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
                    ~running_trial_of(claim_id),
                    or_(
                        and_(
                            ~retry_in_flight(claim_id, claimed_at, cutoff),
                            ~unlinked_trial_in_flight(study_id, claimed_at, cutoff),
                        ),
                        ~_active(study_id),
                    ),
                )
            )
            if rowcount(gone) != 1:
                continue
            slots = released.setdefault((study_id, worker_id), _Released())
            slots.reserved += bool(reserved)
            slots.running += not reserved
            slots.started += _started(session, claim_id, study_id, claimed_at)
        for (study_id, worker_id), slots in released.items():
            _give_back(session, study_id, worker_id, slots, now=now)
        session.execute(delete(WorkerRow).where(~heard))
        recount_done(session, now=now)
        settle(session, now=now)
    return sum(slots.running + slots.reserved for slots in released.values())


@dataclass
class _Released:
    """The slots one sweep gave back of one dead worker in one study."""

    running: int = 0
    reserved: int = 0
    """A λ path's further slots (``n_reserved``)."""
    started: int = 0
    """Those a trial started under (``_started``)."""


def _started(session: Session, claim_id: int, study_id: str, claimed_at: datetime) -> bool:
    """Whether a trial started under the claim: one linked to it, or one of the study linked to
    no claim that started since it was taken (a worker killed as its trial started, before
    linking it, died of that trial, whose retry counts the death; another worker's trial
    between its two writes would be taken for it too: a moment's window, on both sides)."""
    return bool(
        session.scalar(any_trial_of(claim_id, claimed_at))
        or session.scalar(unlinked_trial_of(study_id, claimed_at).select())
    )


def _give_back(
    session: Session, study_id: str, worker_id: str, slots: _Released, *, now: datetime
) -> None:
    """Take a dead worker's released slots off its study's counts, and count its death before
    a trial started as one error of the study, however many slots it held (a fused pass's
    members, a λ path's points).

    Decided once, as its last slot of the study is given back: a slot whose trial started is
    kept until that trial is failed and its retry queued, and that trial beat after all the
    worker's slots were taken, so that slot comes back last, or with the others. If no trial
    started under any of those given back then (``_started``), the worker died before any
    trial started.
    """
    values: dict[str, Any] = {"n_done": monotonic_done(), "updated_at": now}
    if slots.running:
        values["n_running"] = StudyRow.n_running - slots.running
    if slots.reserved:
        values["n_reserved"] = StudyRow.n_reserved - slots.reserved
    if not slots.started and not _holds(session, study_id, worker_id):
        # loading the data or building the sampler killed it (out of memory?); a study doing
        # that to every worker must end
        values.update(n_errors=StudyRow.n_errors + 1, error=DIED_BEFORE_TRIAL)
    session.execute(
        update(StudyRow)
        .where(StudyRow.id == study_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    # one line however many slots (a λ path reserves up to 20); worker_id stays the sweeping
    # process's own: the dead one is a field of its own
    count = slots.running + slots.reserved
    what = "the slot" if count == 1 else f"the {count} slots"
    path = f" ({slots.reserved} reserved for a λ path)" if slots.reserved else ""
    with logs.context(study_id=study_id):
        log.warning(
            "released %s of dead worker %s in study %s%s",
            what,
            worker_id,
            study_id,
            path,
            extra={"dead_worker_id": worker_id, "slots": count},
        )


def _holds(session: Session, study_id: str, worker_id: str) -> bool:
    """Whether the dead worker still holds a slot of the study (its trial running, or taken
    after the others, so past the grace period a sweep later): whether it died before a trial
    started is decided with its last slot."""
    held = select(ClaimRow.id).where(ClaimRow.study_id == study_id, ClaimRow.worker_id == worker_id)
    return session.scalar(held.exists().select()) is True


def recount_done(session: Session, *, now: datetime) -> int:
    """Bring every active study's ``n_done`` up to its COMPLETE and PRUNED trials → how many
    studies had trials no finish counted (told from outside regtune, e.g. optuna-dashboard's
    human-in-the-loop tell); the sweep's part of ``monotonic_done``."""
    done = done_subquery()
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
