"""What /metrics reports about trials, kept per process and brought up to date by deltas.

Counting every trial and bucketing every finished trial's duration at each scrape costs time in
proportion to all trials ever run. A finished trial never changes, so each process folds it into
its tallies once, and per scrape reads only what changed through the delta cursor
(``regtune.service.store.trials.cursor``), as the trial index does. A scrape costs what changed
since the last one, plus one probe per study.
"""

from __future__ import annotations

import bisect
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from regtune.service.store.optuna_db.attrs import CLAIM_SECONDS_ATTR
from regtune.service.store.optuna_db.internals.handles import om
from regtune.service.store.tables import ClaimRow, StudyRow, WorkerRow
from regtune.service.store.trials.cursor import Change, Cursor, read_changes

FINISHED = ("COMPLETE", "PRUNED", "FAIL")


@dataclass
class Histogram:
    """Counts per bucket (not cumulative; the last bound is +Inf) and the sum of the values."""

    bounds: Sequence[float]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        self.counts = self.counts or [0] * len(self.bounds)

    def add(self, value: float) -> None:
        self.counts[min(bisect.bisect_left(self.bounds, value), len(self.bounds) - 1)] += 1
        self.total += value

    def plus(self, other: Histogram) -> Histogram:
        counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        return Histogram(self.bounds, counts, self.total + other.total)

    def cumulative(self) -> list[int]:
        out, running = [], 0
        for count in self.counts:
            running += count
            out.append(running)
        return out


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
    durations: dict[str, Histogram]
    claim_seconds: Histogram


def _seconds(start: datetime | None, complete: datetime | None) -> float | None:
    if start is None or complete is None:
        return None
    return max(0.0, (complete - start).total_seconds())


class TrialStats:
    """Tallies of every regtune study's trials in this process; ``snapshot`` brings them up to
    date and returns the totals."""

    def __init__(self, duration_buckets: Sequence[float], claim_buckets: Sequence[float]) -> None:
        self.duration_buckets = duration_buckets
        self.claim_buckets = claim_buckets
        self.lock = threading.Lock()
        self.studies: dict[tuple[str, int], _Study] = {}

    def _new_study(self, optuna_study_id: int) -> _Study:
        return _Study(
            cursor=Cursor(optuna_study_id),
            finished=dict.fromkeys(FINISHED, 0),
            durations={s: Histogram(self.duration_buckets) for s in FINISHED},
            claim_seconds=Histogram(self.claim_buckets),
        )

    def snapshot(self, session: Session, *, now: datetime, grace: float) -> Snapshot:
        """The totals at ``now``; workers count as live within their own grace period
        (``grace`` for a row an older regtune wrote: ``WorkerRow.alive``)."""
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
                self.studies[key] = self._new_study(key[1])
            try:
                self._read_changes(session)
            except BaseException:  # half-folded tallies would be wrong forever: start over
                self.studies = {}
                raise
            live = session.scalar(
                select(func.count())
                .select_from(WorkerRow)
                .where(WorkerRow.alive(now=now, default=grace))
            )
            claims = session.scalar(select(func.count()).select_from(ClaimRow))
            return self._totals(statuses, int(live or 0), int(claims or 0))

    def _read_changes(self, session: Session) -> None:
        trials = om.TrialModel.__table__
        attrs = om.TrialSystemAttributeModel.__table__
        joined = trials.outerjoin(
            attrs, and_(attrs.c.trial_id == trials.c.trial_id, attrs.c.key == CLAIM_SECONDS_ATTR)
        )
        by_optuna_id = {study.cursor.optuna_study_id: study for study in self.studies.values()}
        changes = read_changes(
            session,
            [study.cursor for study in self.studies.values()],
            trials.c.datetime_start,
            trials.c.datetime_complete,
            attrs.c.value_json,
            joined=joined,
        )
        for change in changes:
            self._fold(by_optuna_id[change.cursor.optuna_study_id], change)

    @staticmethod
    def _fold(study: _Study, change: Change[_Open]) -> None:
        *_, start, complete, claim_json = change.row
        claim = None if claim_json is None else float(json.loads(claim_json))
        if change.state not in FINISHED:
            study.cursor.open[change.trial_id] = _Open(change.state, claim)
            return
        study.finished[change.state] += 1
        seconds = _seconds(start, complete)
        if seconds is not None:
            study.durations[change.state].add(seconds)
        if claim is not None:
            study.claim_seconds.add(claim)

    def _totals(self, statuses: dict[str, int], live: int, claims: int) -> Snapshot:
        trials = dict.fromkeys(["RUNNING", "WAITING", *FINISHED], 0)
        durations = {s: Histogram(self.duration_buckets) for s in FINISHED}
        claim_seconds = Histogram(self.claim_buckets)
        for study in self.studies.values():
            for state in FINISHED:
                trials[state] += study.finished[state]
                durations[state] = durations[state].plus(study.durations[state])
            claim_seconds = claim_seconds.plus(study.claim_seconds)
            for trial in study.cursor.open.values():
                trials[trial.state] += 1
                if trial.claim_seconds is not None:
                    claim_seconds.add(trial.claim_seconds)
        return Snapshot(
            studies={str(k): int(v) for k, v in statuses.items()},
            trials=trials,
            durations=durations,
            claim_seconds=claim_seconds,
            workers_live=live,
            claims_open=claims,
        )
