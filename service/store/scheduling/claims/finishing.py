"""Finishing a slot (``finish``, or in the transaction that tells its trial) and settling a
study whose budget, deadline or error budget is spent, or that its stop rule stopped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from optuna.trial import TrialState
from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    Text,
    bindparam,
    case,
    delete,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from regtune.service.spec.enums import ACTIVE, StudyStatus
from regtune.service.store.clock import utcnow
from regtune.service.store.db import rowcount, transaction
from regtune.service.store.optuna_db.internals.handles import backend_of
from regtune.service.store.optuna_db.internals.running_writes import RunningTrialWrites
from regtune.service.store.scheduling.claims import stopping
from regtune.service.store.scheduling.claims.counts import NOW, STUDY, monotonic_done
from regtune.service.store.scheduling.claims.links import retry_in_flight
from regtune.service.store.scheduling.claims.slot import SWEPT, Claim, held
from regtune.service.store.tables import ClaimRow, StudyRow

CLAIM_ID: Any = bindparam("claim", type_=Integer)
SEQ: Any = bindparam("seq", type_=Integer)


@dataclass(frozen=True)
class Stopping:
    """A finish that a study's stop rule follows: the rule, and the trial it counts."""

    rule: stopping.Rule
    finished: stopping.Finished


def finish(
    engine: Engine | None = None,
    *,
    claim_id: int,
    study_id: str,
    seq: int,
    error: str | None = None,
    now: datetime | None = None,
    failed_by_sweep: timedelta | None = None,
    stop: Stopping | None = None,
) -> bool:
    """Give the slot back and bring ``n_done`` up to date; complete or fail the study if due.

    ``seq``: the claim's (``Claim.seq``): only the claim taken is given back (``held``), never
    another claim SQLite gave its id to once the sweep released it. ``error`` counts only with
    the slot this call gives back: a slot the sweep released, the sweep counted.

    ``failed_by_sweep`` (the grace period) is for a slot whose trial a sweep failed as stale
    while this worker ran it: if that sweep has not queued the retry yet, the slot is handed to
    the sweep (``SWEPT``), which gives it back once the retry is queued, so the next claim runs
    the retry (``release_dead_workers``). Returns True if this call completed the study (exactly
    one finisher sees True), which is the worker's cue to save the best model.

    ``stop``: the study's stop rule and the trial this finish counts, told before in a
    transaction of its own (a fused member the tell could not finish: ``finish_when_told``
    answered None), which moves the rule's columns (``stopping``).
    """
    with transaction(engine) as session:
        return finish_in(
            session,
            claim_id=claim_id,
            study_id=study_id,
            seq=seq,
            error=error,
            now=now or utcnow(),
            failed_by_sweep=failed_by_sweep,
            stop=stop,
        )


def finish_in(
    session: Session,
    *,
    claim_id: int,
    study_id: str,
    now: datetime,
    seq: int,
    error: str | None = None,
    failed_by_sweep: timedelta | None = None,
    told: bool = False,
    stop: Stopping | None = None,
) -> bool:
    """``finish`` in the caller's transaction: a worker finishes the slot of a COMPLETE or
    PRUNED trial in the transaction that tells the trial (``told``; no retry is due for
    either)."""
    session.flush()  # the statements below run on the session's connection
    connection = session.connection()
    this_claim = held(claim_id, study_id=study_id, seq=seq)
    release = _release()
    if failed_by_sweep is not None:
        claimed_at = session.scalar(select(ClaimRow.claimed_at).where(*this_claim))
        if claimed_at is not None:
            pending = retry_in_flight(claim_id, claimed_at, now - failed_by_sweep)
            release = release.where(~pending)
    bound = {"claim": claim_id, "study": study_id, "seq": seq}
    released = rowcount(connection.execute(release, bound)) == 1
    if not released and failed_by_sweep is not None:
        session.execute(
            update(ClaimRow)
            .where(*this_claim)
            .values(worker_id=SWEPT)
            .execution_options(synchronize_session=False)
        )
    errored = error is not None and released  # a slot the sweep released, the sweep counted
    counted = {"study": study_id, "now": now, "error_text": (error or "")[:2000]}
    connection.execute(_count(released=released, errored=errored, told=told), counted)
    if stop is not None:
        stopping.record(session, study_id=study_id, rule=stop.rule, finished=[stop.finished])
    return settle(session, study_id=study_id, now=now, failures=errored) > 0


@cache
def _release() -> Any:
    """The DELETE that gives the slot back: the claim taken (``held``)."""
    return delete(ClaimRow).where(*held(CLAIM_ID, study_id=STUDY, seq=SEQ))


@cache
def _count(*, released: bool, errored: bool, told: bool) -> Any:
    """The study's counts after a finish: ``n_done`` brought up to date, the slot given back if
    ``released``, the error counted if ``errored``."""
    values: dict[str, object] = {"n_done": monotonic_done(told=told), "updated_at": NOW}
    if released:
        values["n_running"] = StudyRow.n_running - 1
    if errored:  # a trial's error is the study's while it runs, never after it ended
        values["n_errors"] = StudyRow.n_errors + 1
        values["error"] = case(
            (StudyRow.status.in_(ACTIVE), bindparam("error_text", type_=Text)),
            else_=StudyRow.error,
        )
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

    rule = stopping.Rule.of(claim.definition)

    def then(connection: Connection, state: TrialState, values: list[float] | None) -> None:
        if state not in TOLD_DONE:
            return
        stop = None
        if rule is not None:  # the trial as this process wrote it (no query)
            trial = backend.get_trial(trial_id)
            finished = stopping.Finished.of(state, values, trial.number, trial.user_attrs)
            stop = Stopping(rule, finished)
        with Session(bind=connection) as session:
            told.append(
                finish_in(
                    session,
                    claim_id=claim.id,
                    study_id=claim.study_id,
                    seq=claim.seq,
                    now=utcnow(),
                    told=True,
                    stop=stop,
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
    completes = (
        update(StudyRow)
        .where(
            *where,
            or_(
                StudyRow.n_done >= StudyRow.n_trials,
                (
                    or_(
                        (StudyRow.deadline.is_not(None)) & (StudyRow.deadline <= NOW),
                        StudyRow.stopped_by.is_not(None),
                    )
                )
                & (StudyRow.n_running == 0)
                & (StudyRow.n_reserved == 0),
            ),
        )
        # short of n_trials, the deadline or a stop rule ended it: a normal end, which records
        # no error; nor is a trial's error, whose parameters ran again, the error of a study
        # that completed
        .values(status=StudyStatus.COMPLETED, error=None, finished_at=NOW, updated_at=NOW)
    )
    fails = (
        update(StudyRow)
        .where(*where, StudyRow.n_errors > StudyRow.max_retries)
        .values(status=StudyStatus.FAILED, finished_at=NOW, updated_at=NOW)
    )
    return completes, fails
