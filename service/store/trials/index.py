"""Each study's trials by state and number, kept per process and brought up to date by deltas.

Counting a study's trials or reading a page at an offset costs, in SQL, time in proportion to
the study (an index walks every entry it counts or skips: 15 ms for a page deep into 100,000
trials on PostgreSQL). Two facts of Optuna make a cheaper way exact:

- a finished trial (COMPLETE, PRUNED, FAIL) never changes again: Optuna refuses every write to it;
- Optuna creates a study's trials one at a time, under a lock on the study's row, so a study's
  trial ids become visible in increasing order (as do their numbers).

So a process remembers, per study, the (number, trial id) of each trial by state, and before each
read asks the database only for the trials above the highest id it has seen and for the few it
last saw RUNNING or WAITING. A read then costs what changed since the previous one, not the size
of the study. The best trial is kept the same way: only newly completed trials can displace it.
"""

from __future__ import annotations

import bisect
import math
import threading
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cachetools import LRUCache
from optuna.trial import TrialState
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from service.store.optuna_db.internals import om

STATES = [s.name for s in TrialState]
OPEN_STATES = frozenset({"RUNNING", "WAITING"})
MAX_STUDIES = 64
"""Studies whose index a process keeps (least recently read first out): 100,000 trials take
about 2 MB."""
DELTA_LIMIT = 2_000
"""Above this many newly completed trials, the best trial is searched again in SQL instead."""
_ID_BITS = 32


def _key(number: int, trial_id: int) -> int:
    """Sorts by number, then trial id; both are non-negative 32-bit integers in Optuna's schema."""
    return (number << _ID_BITS) | trial_id


def _trial_id(key: int) -> int:
    return key & ((1 << _ID_BITS) - 1)


@dataclass(frozen=True)
class Best:
    """The best feasible COMPLETE trial on objective 0: its sort key and number."""

    rank: tuple[float, int]
    number: int


class StudyIndex:
    """The trials of one Optuna study as this process last saw them; use under ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.watermark = 0
        self.all = array("q")
        self.by_state: dict[str, array[int]] = {s: array("q") for s in STATES}
        self.open: dict[int, tuple[int, str]] = {}
        self.built = False
        self.best: Best | None = None
        self.best_direction: str | None = None
        self._completed: list[int] = []

    def refresh(self, session: Session, optuna_study_id: int) -> None:
        """Read what changed since the last refresh: new trials, and the ones that were open."""
        from service.store.trials.views import among

        trials = om.TrialModel.__table__
        changed = trials.c.trial_id > self.watermark
        if self.open:
            changed = or_(changed, among(session, trials.c.trial_id, list(self.open)))
        rows = session.execute(
            select(trials.c.trial_id, trials.c.number, trials.c.state).where(
                trials.c.study_id == optuna_study_id, changed
            )
        )
        seen_up_to = self.watermark
        for trial_id, number, state in rows:
            self._apply(int(trial_id), int(number or 0), state.name, new=trial_id > seen_up_to)
        self.built = True

    def _apply(self, trial_id: int, number: int, state: str, *, new: bool) -> None:
        seen = self.open.get(trial_id)
        if seen is None and not new:
            return  # already finished when last seen: it cannot have changed
        if seen is None:
            key = _key(number, trial_id)
            bisect.insort(self.all, key)
            self.watermark = max(self.watermark, trial_id)
        else:
            key, previous = seen
            if previous == state:
                return
            column = self.by_state[previous]
            del column[bisect.bisect_left(column, key)]
        bisect.insort(self.by_state[state], key)
        if state in OPEN_STATES:
            self.open[trial_id] = (key, state)
        else:
            self.open.pop(trial_id, None)
            if state == "COMPLETE":
                self._completed.append(trial_id)

    def counts(self) -> dict[str, int]:
        return {s: len(column) for s, column in self.by_state.items()}

    def page(self, state: str | None, offset: int, limit: int) -> list[int]:
        """Trial ids of the page, in number order."""
        column = self.all if state is None else self.by_state[state]
        return [_trial_id(k) for k in column[offset : offset + limit]]

    def total(self, state: str | None) -> int:
        return len(self.all if state is None else self.by_state[state])

    def trial_id_of(self, number: int) -> int | None:
        at = bisect.bisect_left(self.all, _key(number, 0))
        if at < len(self.all) and self.all[at] >> _ID_BITS == number:
            return _trial_id(self.all[at])
        return None

    def update_best(self, session: Session, optuna_study_id: int, direction: str) -> Best | None:
        """The best trial, searched in SQL once, then only among trials completed since."""
        from service.store.trials.views import best_trial_number, value_of

        completed, self._completed = self._completed, []
        sign = -1.0 if direction == "maximize" else 1.0
        if self.best_direction != direction or len(completed) > DELTA_LIMIT:
            self.best_direction = direction
            number = best_trial_number(session, optuna_study_id, direction)
            trial_id = None if number is None else self.trial_id_of(number)
            value = None if trial_id is None else value_of(session, trial_id)
            self.best = None
            if number is not None and value is not None:
                self.best = Best((sign * value, number), number)
            return self.best
        for number, value in _feasible_values(session, completed):
            rank = (sign * value, number)
            if self.best is None or rank < self.best.rank:
                self.best = Best(rank, number)
        return self.best


def _feasible_values(session: Session, trial_ids: Sequence[int]) -> Iterable[tuple[int, float]]:
    from service.store.trials.views import among, infeasible

    if not trial_ids:
        return []
    trials, values = om.TrialModel, om.TrialValueModel
    rows = session.execute(
        select(trials.number, values.value)
        .join(values, values.trial_id == trials.trial_id)
        .where(
            among(session, trials.trial_id, list(trial_ids)),
            trials.state == TrialState.COMPLETE,
            values.objective == 0,
            values.value.is_not(None),
            ~infeasible(),
        )
    ).all()
    return [(int(n), float(v)) for n, v in rows if not math.isnan(v)]


_INDEXES: LRUCache[tuple[str, int], StudyIndex] = LRUCache(maxsize=MAX_STUDIES)
_INDEXES_LOCK = threading.Lock()


def study_index(key: str, optuna_study_id: int) -> StudyIndex:
    """This process's index of a study; ``key`` (regtune's study id) keeps a reused Optuna id
    from meeting another study's index."""
    with _INDEXES_LOCK:
        index = _INDEXES.get((key, optuna_study_id))
        if index is None:
            index = _INDEXES[(key, optuna_study_id)] = StudyIndex()
        return index


def forget(key: str) -> None:
    """Drop the indexes of a deleted study."""
    with _INDEXES_LOCK:
        for cached in [k for k in _INDEXES if k[0] == key]:
            del _INDEXES[cached]
