"""What /metrics reports about trials, kept per process and brought up to date by deltas.

Counting every trial and bucketing every finished trial's duration at each scrape costs time in
proportion to all trials ever run. As in ``service.store.trials.index``, a finished trial never
changes and a study's trial ids become visible in increasing order, so each process folds a
finished trial into its tallies once and, per scrape, reads only the trials created since the
previous scrape (per study, above the highest id seen) and the few that were still RUNNING or
WAITING. A scrape costs what changed since the last one, plus one probe per study.
"""

from __future__ import annotations

import bisect
import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from service.store.optuna_db.attrs import CLAIM_SECONDS_ATTR
from service.store.optuna_db.internals import om
from service.store.tables import ClaimRow, StudyRow, WorkerRow

FINISHED = ("COMPLETE", "PRUNED", "FAIL")
STUDIES_PER_QUERY = 200
"""Studies probed for new trials in one statement (an OR of one index range per study)."""


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
class _Study:
    watermark: int
    finished: dict[str, int]
    durations: dict[str, Histogram]
    claim_seconds: Histogram


@dataclass
class _Open:
    study: tuple[str, int]
    state: str
    claim_seconds: float | None


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
        self.open: dict[int, _Open] = {}

    def _new_study(self) -> _Study:
        return _Study(
            watermark=0,
            finished=dict.fromkeys(FINISHED, 0),
            durations={s: Histogram(self.duration_buckets) for s in FINISHED},
            claim_seconds=Histogram(self.claim_buckets),
        )

    def snapshot(self, session: Session, *, live_since: datetime) -> Snapshot:
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
            self.open = {k: v for k, v in self.open.items() if v.study in ours}
            for key in ours - set(self.studies):
                self.studies[key] = self._new_study()
            try:
                self._read_changes(session)
            except BaseException:  # half-folded tallies would be wrong forever: start over
                self.studies, self.open = {}, {}
                raise
            live = session.scalar(
                select(func.count()).select_from(WorkerRow).where(WorkerRow.last_seen >= live_since)
            )
            claims = session.scalar(select(func.count()).select_from(ClaimRow))
            return self._totals(statuses, int(live or 0), int(claims or 0))

    def _read_changes(self, session: Session) -> None:
        trials = om.TrialModel.__table__
        attrs = om.TrialSystemAttributeModel.__table__
        by_optuna_id = {key[1]: key for key in self.studies}
        columns = (
            trials.c.trial_id,
            trials.c.study_id,
            trials.c.state,
            trials.c.datetime_start,
            trials.c.datetime_complete,
            attrs.c.value_json,
        )
        joined = trials.outerjoin(
            attrs, and_(attrs.c.trial_id == trials.c.trial_id, attrs.c.key == CLAIM_SECONDS_ATTR)
        )
        conditions: list[Any] = [
            and_(trials.c.study_id == key[1], trials.c.trial_id > study.watermark)
            for key, study in self.studies.items()
        ]
        open_ids = list(self.open)
        for start in range(0, len(open_ids), 1000):
            conditions.append(trials.c.trial_id.in_(open_ids[start : start + 1000]))
        self.open = {}
        for start in range(0, len(conditions), STUDIES_PER_QUERY):
            chunk = conditions[start : start + STUDIES_PER_QUERY]
            rows = session.execute(select(*columns).select_from(joined).where(or_(*chunk)))
            self._fold(rows, by_optuna_id)

    def _fold(self, rows: Iterable[Any], by_optuna_id: dict[int, tuple[str, int]]) -> None:
        for trial_id, optuna_id, state, start, complete, claim_json in rows:
            key = by_optuna_id.get(optuna_id)
            if key is None:
                continue
            study = self.studies[key]
            study.watermark = max(study.watermark, trial_id)
            claim = None if claim_json is None else float(json.loads(claim_json))
            if state.name not in FINISHED:
                self.open[trial_id] = _Open(key, state.name, claim)
                continue
            study.finished[state.name] += 1
            seconds = _seconds(start, complete)
            if seconds is not None:
                study.durations[state.name].add(seconds)
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
        for trial in self.open.values():
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
