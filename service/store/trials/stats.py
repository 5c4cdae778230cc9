"""What /metrics reports about trials, kept per process and brought up to date by deltas.

Counting every trial and bucketing every finished trial's duration at each scrape costs time in
proportion to all trials ever run. A finished trial never changes, so each process folds it into
its tallies once, and per scrape reads only what changed through the delta cursor
(``regtune.service.store.trials.cursor``), as the trial index does. A scrape costs what changed
since the last one, plus one probe per study.

The histograms are counters to Prometheus, which reads any decrease as a restart. Deleting a
study deletes its trials, so ``retire`` adds its tallies, in the transaction that deletes its
row, to the one row of ``regtune_retired_trials``, which every scrape adds back: the histograms
of every process, however many there are, never go down.
"""

from __future__ import annotations

import bisect
import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from regtune.service.store.clock import utcnow
from regtune.service.store.optuna_db.attrs import CLAIM_SECONDS_ATTR
from regtune.service.store.optuna_db.internals.handles import om
from regtune.service.store.tables import (
    RETIRED_ROW,
    ClaimRow,
    RetiredTrialsRow,
    StudyRow,
    WorkerRow,
)
from regtune.service.store.trials.cursor import Change, Cursor, read_changes

FINISHED = ("COMPLETE", "PRUNED", "FAIL")
DURATION_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, math.inf)
CLAIM_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, math.inf)


@dataclass
class Histogram:
    """Counts per bucket (not cumulative; the last bound is +Inf) and the sum of the values."""

    bounds: Sequence[float]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        self.counts = self.counts or [0] * len(self.bounds)

    def add(self, value: float) -> None:
        self.counts[self._bucket(value)] += 1
        self.total += value

    def _bucket(self, value: float) -> int:
        return min(bisect.bisect_left(self.bounds, value), len(self.bounds) - 1)

    def plus(self, other: Histogram) -> Histogram:
        counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        return Histogram(self.bounds, counts, self.total + other.total)

    def cumulative(self) -> list[int]:
        out, running = [], 0
        for count in self.counts:
            running += count
            out.append(running)
        return out

    def stored(self) -> dict[str, Any]:
        """As JSON: the finite bounds (the last, +Inf, implied), the counts and the sum."""
        return {"bounds": list(self.bounds[:-1]), "counts": self.counts, "sum": self.total}

    @classmethod
    def from_stored(cls, stored: dict[str, Any], bounds: Sequence[float]) -> Histogram:
        """A ``stored`` histogram in ``bounds``: each of its counts in the bucket that holds
        its own bucket's upper bound (the same bucket, when the bounds are the same)."""
        into = cls(bounds, total=float(stored["sum"]))
        for upper, count in zip([*stored["bounds"], math.inf], stored["counts"], strict=True):
            into.counts[into._bucket(upper)] += int(count)
        return into


@dataclass
class Tallies:
    """The histograms of finished trials: wall time by state, and the claims' latency."""

    durations: dict[str, Histogram]
    claim_seconds: Histogram

    @classmethod
    def empty(cls, duration_buckets: Sequence[float], claim_buckets: Sequence[float]) -> Tallies:
        return cls({s: Histogram(duration_buckets) for s in FINISHED}, Histogram(claim_buckets))

    def plus(self, other: Tallies) -> Tallies:
        return Tallies(
            {s: self.durations[s].plus(other.durations[s]) for s in FINISHED},
            self.claim_seconds.plus(other.claim_seconds),
        )

    def fold(self, state: str, seconds: float | None, claim: float | None) -> None:
        """One finished trial: its wall time and claim latency, each if known."""
        if seconds is not None:
            self.durations[state].add(seconds)
        if claim is not None:
            self.claim_seconds.add(claim)

    def stored(self) -> dict[str, Any]:
        return {
            "durations": {s: self.durations[s].stored() for s in FINISHED},
            "claim_seconds": self.claim_seconds.stored(),
        }

    @classmethod
    def from_stored(
        cls,
        stored: dict[str, Any],
        duration_buckets: Sequence[float],
        claim_buckets: Sequence[float],
    ) -> Tallies:
        if not stored:
            return cls.empty(duration_buckets, claim_buckets)
        return cls(
            {s: Histogram.from_stored(stored["durations"][s], duration_buckets) for s in FINISHED},
            Histogram.from_stored(stored["claim_seconds"], claim_buckets),
        )


@dataclass
class Snapshot:
    studies: dict[str, int]
    trials: dict[str, int]
    durations: dict[str, Histogram]
    claim_seconds: Histogram
    workers_live: int
    claims_open: int


@dataclass
class _Open:
    state: str
    claim_seconds: float | None


@dataclass
class _Study:
    cursor: Cursor[_Open]
    finished: dict[str, int]
    tallies: Tallies


def _seconds(start: datetime | None, complete: datetime | None) -> float | None:
    if start is None or complete is None:
        return None
    return max(0.0, (complete - start).total_seconds())


def _read(session: Session, cursors: list[Cursor[_Open]]) -> list[Change[_Open]]:
    """The cursors' changed trials, with their datetimes and their claim's latency."""
    trials = om.TrialModel.__table__
    attrs = om.TrialSystemAttributeModel.__table__
    joined = trials.outerjoin(
        attrs, and_(attrs.c.trial_id == trials.c.trial_id, attrs.c.key == CLAIM_SECONDS_ATTR)
    )
    return read_changes(
        session,
        cursors,
        trials.c.datetime_start,
        trials.c.datetime_complete,
        attrs.c.value_json,
        joined=joined,
    )


def _finished(change: Change[_Open]) -> tuple[float | None, float | None]:
    """A trial's wall time and claim latency, each if known."""
    *_, start, complete, claim_json = change.row
    claim = None if claim_json is None else float(json.loads(claim_json))
    return _seconds(start, complete), claim


def tallies_of(session: Session, optuna_study_id: int) -> Tallies:
    """The tallies of the study's finished trials, in the default buckets."""
    tallies = Tallies.empty(DURATION_BUCKETS, CLAIM_BUCKETS)
    for change in _read(session, [Cursor(optuna_study_id)]):
        if change.state in FINISHED:
            tallies.fold(change.state, *_finished(change))
    return tallies


def retire(session: Session, tallies: Tallies) -> None:
    """Add a deleted study's ``tallies`` (``tallies_of``, read before its trials are deleted)
    to ``regtune_retired_trials``, in the transaction that deletes its row: a scrape sees the
    study or its tallies there, never both, never neither. Retirements wait for each other on
    the row's lock, taken by its first write."""
    row = RetiredTrialsRow.__table__.c
    # the row migration 0008 made, locked by this first write
    session.execute(
        update(RetiredTrialsRow).where(row.id == RETIRED_ROW).values(updated_at=utcnow())
    )
    before = session.scalar(select(row.tallies).where(row.id == RETIRED_ROW)) or {}
    total = Tallies.from_stored(before, DURATION_BUCKETS, CLAIM_BUCKETS).plus(tallies)
    session.execute(
        update(RetiredTrialsRow).where(row.id == RETIRED_ROW).values(tallies=total.stored())
    )


class TrialStats:
    """Tallies of every regtune study's trials in this process; ``snapshot`` brings them up to
    date and returns the totals."""

    def __init__(
        self,
        duration_buckets: Sequence[float] = DURATION_BUCKETS,
        claim_buckets: Sequence[float] = CLAIM_BUCKETS,
    ) -> None:
        self.duration_buckets = duration_buckets
        self.claim_buckets = claim_buckets
        self.lock = threading.Lock()
        self.studies: dict[tuple[str, int], _Study] = {}

    def empty(self) -> Tallies:
        return Tallies.empty(self.duration_buckets, self.claim_buckets)

    def snapshot(self, session: Session, *, now: datetime, grace: float) -> Snapshot:
        """The totals at ``now``, deleted studies' included; workers count as live within their
        own grace period (``grace`` for a row an older regtune wrote: ``WorkerRow.alive``).
        Run it in one read transaction (``reads.at_once``): a study deleted between two of its
        statements would be counted twice, or not at all."""
        with self.lock:
            statuses = dict(
                session.execute(
                    select(StudyRow.status, func.count()).group_by(StudyRow.status)
                ).all()
            )
            ours = {
                (str(study_id), int(optuna_id))
                for study_id, optuna_id in session.execute(
                    select(StudyRow.id, StudyRow.optuna_study_id).where(
                        StudyRow.optuna_study_id.is_not(None)
                    )
                )
                if optuna_id is not None
            }
            for gone in set(self.studies) - ours:
                del self.studies[gone]
            for key in ours - set(self.studies):
                self.studies[key] = _Study(Cursor(key[1]), dict.fromkeys(FINISHED, 0), self.empty())
            try:
                self._read_changes(session)
            except BaseException:  # half-folded tallies would be wrong forever: start over
                self.studies = {}
                raise
            retired = session.scalar(
                select(RetiredTrialsRow.tallies).where(RetiredTrialsRow.id == RETIRED_ROW)
            )
            live = session.scalar(
                select(func.count())
                .select_from(WorkerRow)
                .where(WorkerRow.alive(now=now, default=grace))
            )
            claims = session.scalar(select(func.count()).select_from(ClaimRow))
            return self._totals(
                statuses,
                Tallies.from_stored(retired or {}, self.duration_buckets, self.claim_buckets),
                int(live or 0),
                int(claims or 0),
            )

    def _read_changes(self, session: Session) -> None:
        by_optuna_id = {study.cursor.optuna_study_id: study for study in self.studies.values()}
        for change in _read(session, [study.cursor for study in self.studies.values()]):
            study = by_optuna_id[change.cursor.optuna_study_id]
            seconds, claim = _finished(change)
            if change.state not in FINISHED:
                study.cursor.open[change.trial_id] = _Open(change.state, claim)
                continue
            study.finished[change.state] += 1
            study.tallies.fold(change.state, seconds, claim)

    def _totals(
        self, statuses: dict[str, int], retired: Tallies, live: int, claims: int
    ) -> Snapshot:
        trials = dict.fromkeys(["RUNNING", "WAITING", *FINISHED], 0)
        tallies = retired
        for study in self.studies.values():
            for state in FINISHED:
                trials[state] += study.finished[state]
            tallies = tallies.plus(study.tallies)
            for trial in study.cursor.open.values():
                trials[trial.state] += 1
                if trial.claim_seconds is not None:
                    tallies.claim_seconds.add(trial.claim_seconds)
        return Snapshot(
            studies={str(k): int(v) for k, v in statuses.items()},
            trials=trials,
            durations=tallies.durations,
            claim_seconds=tallies.claim_seconds,
            workers_live=live,
            claims_open=claims,
        )
