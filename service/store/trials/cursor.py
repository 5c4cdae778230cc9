"""The one delta read of trials: per study, the trials above the highest id seen, plus the ones
last seen open. The per-process trial index and the /metrics tallies both read through it.

Two facts of Optuna make it exact:

- a finished trial (COMPLETE, PRUNED, FAIL) never changes again: Optuna refuses every write to it;
- Optuna creates a study's trials one at a time, under a lock on the study's row, so a study's
  trial ids become visible in increasing order (as do their numbers).

So a reader that remembers, per study, the highest trial id it has seen and the trials it last saw
RUNNING or WAITING misses nothing when it reads only those: a read costs what changed since the
previous one, not the size of the study.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from regtune.service.store.db import among
from regtune.service.store.optuna_db.internals.handles import om

T = TypeVar("T")
OPEN_STATES = frozenset({"RUNNING", "WAITING"})
STUDIES_PER_QUERY = 200
"""Studies read in one statement (an OR of one index range per study)."""


@dataclass
class Cursor(Generic[T]):
    """Where the next delta read of one Optuna study resumes."""

    optuna_study_id: int
    watermark: int = 0
    """The highest trial id seen."""
    open: dict[int, T] = field(default_factory=dict)
    """The trials last seen RUNNING or WAITING, with what the reader kept about each."""

    def _changed(self, session: Session) -> Any:
        trials = om.TrialModel.__table__
        changed = trials.c.trial_id > self.watermark
        if self.open:
            changed = or_(changed, among(session, trials.c.trial_id, list(self.open)))
        return and_(trials.c.study_id == self.optuna_study_id, changed)


@dataclass(frozen=True)
class Change(Generic[T]):
    """A trial read by ``read_changes``: new, or one that was open when last read."""

    cursor: Cursor[T]
    trial_id: int
    state: str
    seen: T | None
    """What the reader kept when the trial was last read open; None for a new trial."""
    row: Any
    """The row: trial id, study id, state, then the reader's own columns."""


def read_changes(
    session: Session, cursors: Sequence[Cursor[T]], *columns: Any, joined: Any = None
) -> list[Change[T]]:
    """The trials of the cursors' studies that are new or were open, and the cursors moved past
    them. Every open trial read leaves ``cursor.open``: the reader puts back those still open."""
    trials = om.TrialModel.__table__
    rows: list[Any] = []
    for start in range(0, len(cursors), STUDIES_PER_QUERY):
        chunk = cursors[start : start + STUDIES_PER_QUERY]
        query = select(trials.c.trial_id, trials.c.study_id, trials.c.state, *columns)
        if joined is not None:
            query = query.select_from(joined)
        query = query.where(or_(*(cursor._changed(session) for cursor in chunk)))
        rows.extend(session.execute(query).all())
    by_study = {cursor.optuna_study_id: cursor for cursor in cursors}
    seen_up_to = {cursor.optuna_study_id: cursor.watermark for cursor in cursors}
    changes: list[Change[T]] = []
    for row in rows:
        trial_id, study_id = int(row[0]), int(row[1])
        cursor = by_study[study_id]
        seen = cursor.open.pop(trial_id, None)
        if seen is None and trial_id <= seen_up_to[study_id]:
            continue  # already finished when last read: it cannot have changed
        cursor.watermark = max(cursor.watermark, trial_id)
        changes.append(Change(cursor, trial_id, row[2].name, seen, row))
    return changes
