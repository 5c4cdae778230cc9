"""Each study's trials by state and number, kept per process and brought up to date by deltas.

Counting a study's trials or reading a page at an offset costs, in SQL, time in proportion to
the study (an index walks every entry it counts or skips: 15 ms for a page deep into 100,000
trials on PostgreSQL). So a process remembers, per study, the (number, trial id) of each trial by
state, and before each read brings it up to date through the delta cursor
(``regtune.service.store.trials.cursor``): a read costs what changed since the previous one, not the
size of the study. The best trial is kept the same way: only newly completed trials can displace it.
"""

from __future__ import annotations

import bisect
import threading
from array import array
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from cachetools import LRUCache
from optuna.trial import TrialState
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from regtune.service.store.db import among
from regtune.service.store.optuna_db.attrs import STOPPED_EARLY_ATTR
from regtune.service.store.optuna_db.internals.handles import om
from regtune.service.store.trials.best import BestChoice, best_choice, feasible_values, value_of
from regtune.service.store.trials.cursor import OPEN_STATES, Change, Cursor, read_changes
from regtune.service.store.trials.curves import STATES as CURVE_STATES
from regtune.service.store.trials.curves import Reported, steps_reported
from regtune.service.store.trials.failures import Failures, retry_join, stopped_marks
from regtune.service.store.trials.one_se import OneSe, one_se_choice
from regtune.service.store.trials.relax_margin import RelaxMargin, relax_margin_choice

STATES = [s.name for s in TrialState]
MAX_STUDIES = 64
"""Studies whose index a process keeps (least recently read first out): 100,000 trials take
about 2 MB."""
DELTA_LIMIT = 2_000
"""Above this many newly completed trials, the best trial is searched again in SQL instead."""
IDS_PER_QUERY = 5_000
"""Trial ids looked up per statement (SQLite takes at most 32,766 parameters)."""
_ID_BITS = 32


def _key(number: int, trial_id: int) -> int:
    """Sorts by number, then trial id; both are non-negative 32-bit integers in Optuna's schema."""
    return (number << _ID_BITS) | trial_id


def _trial_id(key: int) -> int:
    return key & ((1 << _ID_BITS) - 1)


@dataclass(frozen=True)
class Best:
    """A trial's sort key (its value signed for the direction, then its number) and number:
    the best feasible COMPLETE trial's on objective 0, or a skipped diverged one's."""

    rank: tuple[float, int]
    number: int


class StudyIndex:
    """The trials of one Optuna study as this process last saw them; use under ``lock``, taken
    with the session's connection in hand (``reads.read`` connects first): a thread holding the
    lock never waits for the pool, whose connections threads waiting for the lock may hold."""

    def __init__(self, optuna_study_id: int) -> None:
        self.lock = threading.Lock()
        self.cursor: Cursor[tuple[int, str]] = Cursor(optuna_study_id)
        """Open trials are kept with their sort key and the state they were read in."""
        self.all = array("q")
        self.by_state: dict[str, array[int]] = {s: array("q") for s in STATES}
        self.best: Best | None = None
        self.best_direction: str | None = None
        self.diverged: list[Best] = []
        """Trials marked diverged that kept a finite value, found by the last full search for
        the best (never chosen; ``diverged_note`` names those ranked before the best)."""
        self._completed: list[int] = []
        self._unread_stops: list[int] = []
        """COMPLETE trials not yet looked at for ``stopped_early``."""
        self.stopped_early = 0
        self._unread_steps: dict[str, array[int]] = {s: array("q") for s in CURVE_STATES}
        """COMPLETE and PRUNED trials whose reported steps are not counted yet (``reported``):
        compact, as a study whose report nobody reads keeps every one of them."""
        self._steps: Counter[str] = Counter()
        self._retried = 0
        self._not_run = 0
        self._retries_not_run = 0
        self._stopped: Counter[str] = Counter()
        """What became of the FAIL trials (``failures``), counted as the trials are read; those
        their study's end stopped by mark (``stopped_marks``)."""
        self.begun = 0
        """Refreshes begun; ``done``: the number of the last one finished."""
        self.done = 0
        self.settled = False
        self._one_se: tuple[tuple[int, int], OneSe] | None = None
        """The one-SE choice, and how many trials were COMPLETE when it was made and from which
        trial."""
        self._relax_margin: tuple[int, RelaxMargin] | None = None
        """The relax margin's choice and how many trials were COMPLETE when it was made."""

    @contextmanager
    def current(self, session: Session, *, quiet: bool = False) -> Iterator[None]:
        """Hold the lock over an index at least as new as the database when this was called.

        Requests arriving together share one refresh: one that waited while another refreshed
        reads nothing again if that refresh began after it arrived. So under load the refreshes
        do not queue up behind each other, one round trip each, with the lock held.

        ``quiet``: the caller read the study's row, before this call, as ended with no trial
        slot held, so no trial can appear any more; once a refresh made after such a read left
        no trial open, the index is ``settled`` and is never read again.
        """
        arrived = self.begun
        with self.lock:
            if self.done <= arrived and not self.settled:
                self.begun += 1
                began = self.begun
                self.refresh(session)
                self.done = began
                self.settled = quiet and not self.cursor.open
            yield

    @contextmanager
    def if_settled(self) -> Iterator[bool]:
        """Without waiting or reading: the lock held and True if the index is settled, else
        False (the lock is busy, or the study may still change)."""
        if not self.settled or not self.lock.acquire(blocking=False):
            yield False
            return
        try:
            yield True
        finally:
            self.lock.release()

    def refresh(self, session: Session) -> None:
        """Read what changed since the last refresh: new trials, and the ones that were open;
        then, only where the study has FAIL trials, whether each changed trial is a retry and
        whether it started (``failures``)."""
        trials = om.TrialModel.__table__
        changes = read_changes(session, [self.cursor], trials.c.number)
        for change in changes:
            self._apply(change, int(change.row.number or 0))
        if changes and self.by_state["FAIL"]:
            self._count_failures(session, changes)

    def _apply(self, change: Change[tuple[int, str]], number: int) -> None:
        state = change.state
        if change.seen is None:
            key = _key(number, change.trial_id)
            bisect.insort(self.all, key)
        else:
            key, previous = change.seen
            if previous != state:
                column = self.by_state[previous]
                del column[bisect.bisect_left(column, key)]
        if change.seen is None or change.seen[1] != state:
            bisect.insort(self.by_state[state], key)
        if state in OPEN_STATES:
            self.cursor.open[change.trial_id] = (key, state)
        elif state == "COMPLETE":
            self._completed.append(change.trial_id)
            self._unread_stops.append(change.trial_id)
        if state in self._unread_steps:
            self._unread_steps[state].append(change.trial_id)

    def _count_failures(self, session: Session, changes: list[Change[tuple[int, str]]]) -> None:
        """Count the retries among ``changes`` and the FAIL trials among them that never
        started or that their study's end stopped (a cancel, or its failure). A separate
        statement, and only once the study has a FAIL trial: a retry copies a FAIL trial
        (final, with a lower id: read in this delta or an earlier one), so a study without one
        has none, and an unchanged study's read stays the one statement it was (the join costs
        a delta read 0.27 → 0.55 ms on SQLite)."""
        trials = om.TrialModel.__table__
        retry = retry_join(trials)
        ids = [change.trial_id for change in changes]
        facts: dict[int, tuple[bool, bool]] = {}
        marks: dict[int, str] = {}
        any_failed = any(change.state == "FAIL" for change in changes)
        for start in range(0, len(ids), IDS_PER_QUERY):
            chunk = ids[start : start + IDS_PER_QUERY]
            query = (
                select(trials.c.trial_id, retry.is_retry, retry.not_started)
                .select_from(retry.joined)
                .where(among(session, trials.c.trial_id, chunk))
            )
            for trial_id, is_retry, not_started in session.execute(query):
                facts[int(trial_id)] = (bool(is_retry), bool(not_started))
            if any_failed:  # only a FAIL trial carries a mark
                marked = stopped_marks(trials).where(among(session, trials.c.trial_id, chunk))
                for trial_id, mark in session.execute(marked):
                    marks[int(trial_id)] = str(mark)
        for change in changes:
            is_retry, not_started = facts.get(change.trial_id, (False, False))
            if change.seen is None and is_retry:
                self._retried += 1
            if change.state == "FAIL" and not_started:  # FAIL is final: counted once
                self._not_run += 1
                self._retries_not_run += int(is_retry)
            elif change.state == "FAIL" and change.trial_id in marks:
                self._stopped[marks[change.trial_id]] += 1

    def counts(self) -> dict[str, int]:
        return {s: len(column) for s, column in self.by_state.items()}

    def failures(self) -> Failures:
        """What became of the FAIL trials read so far (interrupted, never run, stopped by
        their study's end, failed)."""
        return Failures(
            failed=len(self.by_state["FAIL"]),
            retried=self._retried,
            not_run=self._not_run,
            retries_not_run=self._retries_not_run,
        ).with_stopped(self._stopped)

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

    def update_stopped_early(self, session: Session) -> int:
        """How many COMPLETE trials early stopping ended (``training.early_stopping``): their
        attribute is read once, when the index first sees them COMPLETE (a COMPLETE trial's
        attributes never change)."""
        attr = om.TrialUserAttributeModel
        while self._unread_stops:  # a failed read leaves its trials to the next call
            ids = self._unread_stops[:IDS_PER_QUERY]
            found = session.scalar(
                select(func.count()).where(
                    among(session, attr.trial_id, ids),
                    attr.key == STOPPED_EARLY_ATTR,
                    attr.value_json == "true",
                )
            )
            self.stopped_early += found or 0
            del self._unread_stops[: len(ids)]
        return self.stopped_early

    def reported(self, session: Session) -> dict[str, Reported]:
        """COMPLETE and PRUNED: the trials and the steps they reported in all (the report's
        steps saved by pruning). A finished trial reports no more, so each is counted once,
        when the index first sees it finished: a study's report pays its size once per process,
        then what finished since."""
        for state, unread in self._unread_steps.items():
            while unread:  # a failed read leaves its trials to the next call
                ids = unread[:IDS_PER_QUERY]
                self._steps[state] += steps_reported(session, ids.tolist())
                del unread[: len(ids)]
        return {s: Reported(len(self.by_state[s]), self._steps[s]) for s in CURVE_STATES}

    def best_known(self, direction: str) -> bool:
        """``best`` is up to date for ``direction`` (``update_best`` would read nothing)."""
        return self.best_direction == direction and not self._completed

    def update_best(self, session: Session, direction: str) -> Best | None:
        """The best trial, searched in SQL once, then only among trials completed since."""
        optuna_study_id = self.cursor.optuna_study_id
        completed, self._completed = self._completed, []
        sign = -1.0 if direction == "maximize" else 1.0
        if self.best_direction != direction or len(completed) > DELTA_LIMIT:
            self.best_direction = direction
            choice = best_choice(session, optuna_study_id, direction)
            self.best = self._ranked(session, choice.number, sign)
            self.diverged = [
                best
                for best in (self._ranked(session, n, sign) for n in choice.diverged)
                if best is not None
            ]
            return self.best
        for number, value, diverged in feasible_values(session, completed):
            rank = (sign * value, number)
            if diverged:  # stored so by a worker before a diverged trial's value was ±inf
                self.diverged.append(Best(rank, number))
            elif self.best is None or rank < self.best.rank:
                self.best = Best(rank, number)
        return self.best

    def _ranked(self, session: Session, number: int | None, sign: float) -> Best | None:
        trial_id = None if number is None else self.trial_id_of(number)
        value = None if trial_id is None else value_of(session, trial_id)
        if number is None or value is None:
            return None
        return Best((sign * value, number), number)

    def diverged_note(self) -> str | None:
        """Which trials marked diverged a better value would have made the best (after
        ``update_best``): ``BestChoice.note``."""
        skipped = [d for d in self.diverged if self.best is None or d.rank < self.best.rank]
        return BestChoice(None, tuple(d.number for d in sorted(skipped, key=lambda d: d.rank))).note

    def relax_margin(self, session: Session, direction: str, margin: float) -> RelaxMargin | None:
        """``objective.relax_margin``'s choice (after ``update_best``), searched again in SQL
        only when trials have completed since the last search."""
        if self.best is None:
            return None
        complete = len(self.by_state["COMPLETE"])
        if self._relax_margin is None or self._relax_margin[0] != complete:
            choice = relax_margin_choice(
                session, self.cursor.optuna_study_id, direction, self.best.number, margin
            )
            self._relax_margin = (complete, choice)
        return self._relax_margin[1]

    def known_relax_margin(self) -> RelaxMargin | None:
        """``relax_margin``'s choice as last made, if no trial has completed since."""
        made = self._relax_margin
        return made[1] if made is not None and made[0] == len(self.by_state["COMPLETE"]) else None

    def one_se(self, session: Session, direction: str, best: int | None = None) -> OneSe | None:
        """The one-standard-error choice from trial ``best`` (default: the best value's; after
        ``update_best``), searched again in SQL only when trials have completed since the last
        search."""
        if self.best is None:
            return None
        best = self.best.number if best is None else best
        made = (len(self.by_state["COMPLETE"]), best)
        if self._one_se is None or self._one_se[0] != made:
            choice = one_se_choice(session, self.cursor.optuna_study_id, direction, best)
            self._one_se = (made, choice)
        return self._one_se[1]


_INDEXES: LRUCache[tuple[str, int], StudyIndex] = LRUCache(maxsize=MAX_STUDIES)
_INDEXES_LOCK = threading.Lock()


def known_index(key: str, optuna_study_id: int) -> StudyIndex | None:
    """This process's index of a study if it has one; never creates one."""
    with _INDEXES_LOCK:
        return _INDEXES.get((key, optuna_study_id))


def study_index(key: str, optuna_study_id: int) -> StudyIndex:
    """This process's index of a study; ``key`` (regtune's study id) keeps a reused Optuna id
    from meeting another study's index."""
    with _INDEXES_LOCK:
        index = _INDEXES.get((key, optuna_study_id))
        if index is None:
            index = _INDEXES[(key, optuna_study_id)] = StudyIndex(optuna_study_id)
        return index
