"""A λ path's slots: its points written and its slots given back in one transaction.

A path runs under one claim, with a running trial (the path's first point), and reserves one
more slot per further point (``claims.taking.extend``: budget, not parallelism). Its points are
written as finished Optuna trials in the transaction that deletes those slots, one point per slot
still held, so the study's count of finished trials and its slots in flight move together:
``n_trials`` stays exact whatever dies when. What a path did not write (it stopped early,
failed, was stopped) goes back at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session

from regtune.service.store.clock import utcnow
from regtune.service.store.db import among, transaction
from regtune.service.store.optuna_db.attrs import CLAIM_ATTR
from regtune.service.store.optuna_db.internals.handles import om
from regtune.service.store.optuna_db.internals.inserts import (
    add_to_running_trial,
    add_trials,
)
from regtune.service.store.scheduling.claims import stopping
from regtune.service.store.scheduling.claims.finishing import settle
from regtune.service.store.scheduling.claims.slot import SWEPT
from regtune.service.store.tables import ClaimRow, StudyRow


def write_points(
    engine: Engine | None = None,
    *,
    optuna_study_id: int,
    study_id: str,
    trial_id: int,
    slots: list[int],
    points: list[FrozenTrial],
    first: FrozenTrial | None = None,
    now: datetime | None = None,
    stop: stopping.Rule | None = None,
) -> int:
    """Write ``points`` under the path's further ``slots`` (claim ids) and release every one of
    those slots; → how many points were written.

    ``first``: the params and attributes of the path's own trial, written in the same commit.
    Only as many points as slots are still held are written (a sweep may have released some);
    none if the path's own trial ``trial_id`` is no longer running (a sweep failed it: its slots
    then go to the sweep, which gives them back once the trial's retry is queued).

    ``stop``: the study's stop rule, which the points written move in their order (a point
    that reaches the goal stops the study; the points after it are written all the same: the
    path ran them)."""
    if len(points) > len(slots):
        raise ValueError(f"{len(points)} points need as many slots, got {len(slots)}")
    now = now or utcnow()
    try:
        with transaction(engine) as session:
            held = sorted(session.scalars(_delete(session, study_id, slots)).all())  # lock first
            trials = om.TrialModel
            state = session.scalar(
                select(trials.state).where(trials.trial_id == trial_id).with_for_update()
            )
            if state != TrialState.RUNNING:
                raise _NotRunning
            written = points[: len(held)]
            for point, claim_id in zip(written, held, strict=False):
                point.system_attrs[CLAIM_ATTR] = claim_id
            if first is not None:
                add_to_running_trial(session, trial_id, first)
            add_trials(session, optuna_study_id, written)
            _released(session, study_id, len(held), now, finished=len(written))
            if stop is not None:
                finished = [
                    stopping.Finished.of(p.state, p.values, p.number, p.user_attrs) for p in written
                ]
                stopping.record(session, study_id=study_id, rule=stop, finished=finished)
            settle(session, study_id=study_id, now=now, failures=False)
    except _NotRunning:
        with transaction(engine) as session:
            session.execute(
                update(ClaimRow)
                .where(*_reserved(session, study_id, slots))
                .values(worker_id=SWEPT)
                .execution_options(synchronize_session=False)
            )
        return 0
    return len(written)


class _NotRunning(Exception):
    """The path's trial was failed meanwhile: nothing is written (rolled back)."""


def release(engine: Engine | None = None, *, study_id: str, slots: list[int]) -> int:
    """Give back a path's further slots unused (it failed or was stopped) → how many."""
    if not slots:
        return 0
    now = utcnow()
    with transaction(engine) as session:
        held = session.scalars(_delete(session, study_id, slots)).all()
        _released(session, study_id, len(held), now)
        settle(session, study_id=study_id, now=now, failures=False)
    return len(held)


def _reserved(session: Session, study_id: str, slots: list[int]) -> tuple[Any, ...]:
    """The path's further ``slots`` of ``study_id``: reserved ones of that study only, never a
    claim SQLite gave one of their ids to once a sweep released it."""
    return (
        among(session, ClaimRow.id, slots),
        ClaimRow.study_id == study_id,
        ClaimRow.reserved.is_(True),
    )


def _delete(session: Session, study_id: str, slots: list[int]) -> Any:
    return (
        delete(ClaimRow)
        .where(*_reserved(session, study_id, slots))
        .returning(ClaimRow.id)
        .execution_options(synchronize_session=False)
    )


def _released(
    session: Session, study_id: str, count: int, now: datetime, *, finished: int = 0
) -> None:
    """``count`` slots given back, ``finished`` of them as the COMPLETE trials this transaction
    wrote: counted so, as ``monotonic_done(told=True)`` counts a told trial (no count of the
    study; what finished otherwise is counted by the sweep). The caller settles the study."""
    session.execute(
        update(StudyRow)
        .where(StudyRow.id == study_id)
        .values(
            n_reserved=StudyRow.n_reserved - count,
            n_done=StudyRow.n_done + finished,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
