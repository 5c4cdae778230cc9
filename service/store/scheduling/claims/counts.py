"""The study row's budget counters in SQL, shared by the statements that take, finish and
recount slots."""

from __future__ import annotations

from typing import Any

from optuna.trial import TrialState
from sqlalchemy import DateTime, String, bindparam, case, func, or_, select

from regtune.service.spec.enums import ACTIVE
from regtune.service.store.optuna_db.internals.handles import om
from regtune.service.store.tables import StudyRow

NOW: Any = bindparam("now", type_=DateTime)
"""The statements of a claim and its finish are built once per process (``@cache``) with their
values as named parameters: building one costs more CPU than running it."""
STUDY: Any = bindparam("study", type_=String)


def done_subquery(study: type[StudyRow] = StudyRow) -> Any:
    """The count of the study's COMPLETE and PRUNED trials (what ``n_done`` must reach)."""
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
    done = done_subquery()
    return case((done > StudyRow.n_done, done), else_=StudyRow.n_done)


def has_room(now: Any) -> list[Any]:
    """The study schedules trials and its budget has a slot left (reserved ones count) at
    ``now`` (a time, or the ``NOW`` parameter), and no stop rule stopped it."""
    return [
        StudyRow.status.in_(ACTIVE),
        StudyRow.optuna_study_id.is_not(None),  # None while the study is being created
        StudyRow.n_done + StudyRow.n_running + StudyRow.n_reserved < StudyRow.n_trials,
        or_(StudyRow.deadline.is_(None), StudyRow.deadline > now),
        StudyRow.stopped_by.is_(None),
    ]
