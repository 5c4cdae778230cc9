"""Prometheus metrics computed from the database at scrape time.

API and workers are separate processes, often on separate machines, so in-process counters
would each see a slice. Everything here is read from the one database when /metrics is
scraped: any API replica reports the same numbers, and worker-side measurements (trial
durations from Optuna's trial datetimes, claim latency that each worker records on its trial
as a system attribute) need no push gateway.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from datetime import timedelta

from optuna.trial import TrialState
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from service.settings import get_settings
from service.spec.enums import StudyStatus
from service.store.claims import CLAIM_SECONDS_ATTR, utcnow
from service.store.db import transaction
from service.store.optuna_internals import om, trial_completed_utc, trial_started_utc
from service.store.tables import ClaimRow, StudyRow, WorkerRow

"""Trial system attribute: seconds the worker's claim transaction took for this trial."""
DURATION_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, math.inf)
CLAIM_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, math.inf)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def histogram(
    name: str,
    documentation: str,
    samples: dict[str, list[float]],
    buckets: Sequence[float],
    label: str,
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation, labels=[label] if label else None)
    for key, values in samples.items():
        cumulative = [
            (_le(bound), float(sum(1 for v in values if v <= bound))) for bound in buckets
        ]
        family.add_metric([key] if label else [], cumulative, sum_value=float(sum(values)))
    return family


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


class DatabaseCollector(Collector):
    """Studies by status, trials by state, live workers, trial duration and claim latency."""

    def collect(self) -> Iterator[Metric]:
        with transaction() as session:
            ours = select(StudyRow.optuna_study_id).where(StudyRow.optuna_study_id.is_not(None))
            studies = dict(
                session.execute(
                    select(StudyRow.status, func.count()).group_by(StudyRow.status)
                ).all()
            )
            trial_rows = session.execute(
                select(om.TrialModel.state, func.count())
                .where(om.TrialModel.study_id.in_(ours))
                .group_by(om.TrialModel.state)
            ).all()
            cutoff = utcnow() - timedelta(seconds=get_settings().grace_period)
            live = session.scalar(
                select(func.count()).select_from(WorkerRow).where(WorkerRow.last_seen >= cutoff)
            )
            claims = session.scalar(select(func.count()).select_from(ClaimRow))
            durations = session.execute(
                select(
                    om.TrialModel.state,
                    trial_started_utc(),
                    trial_completed_utc(),
                ).where(
                    om.TrialModel.study_id.in_(ours),
                    om.TrialModel.state.in_(FINISHED),
                    trial_started_utc().is_not(None),
                    trial_completed_utc().is_not(None),
                )
            ).all()
            claim_seconds = session.scalars(
                select(om.TrialSystemAttributeModel.value_json).where(
                    om.TrialSystemAttributeModel.key == CLAIM_SECONDS_ATTR
                )
            ).all()
        yield _gauge("regtune_studies", "Studies by status.", "status", studies, tuple(StudyStatus))
        trials = {state.name: int(count) for state, count in trial_rows}
        yield _gauge("regtune_trials", "Trials by state.", "state", trials, _state_names())
        yield _single("regtune_workers_live", "Workers with a recent heartbeat.", live)
        yield _single("regtune_claims_open", "Trial slots currently held by workers.", claims)
        by_state: dict[str, list[float]] = {s.name: [] for s in FINISHED}
        for state, start, complete in durations:
            by_state[state.name].append(max(0.0, (complete - start).total_seconds()))
        yield histogram(
            "regtune_trial_duration_seconds",
            "Wall time of finished trials, from Optuna's trial datetimes.",
            by_state,
            DURATION_BUCKETS,
            "state",
        )
        yield histogram(
            "regtune_claim_latency_seconds",
            "Time a worker's claim transaction took, as recorded on each trial it started.",
            {"": [float(json.loads(v)) for v in claim_seconds]},
            CLAIM_BUCKETS,
            "",
        )


def _state_names() -> list[str]:
    return [s.name for s in TrialState]


def _gauge(
    name: str, documentation: str, label: str, counts: dict[str, int], keys: Iterable[str]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key in keys:
        family.add_metric([key], float(counts.get(key, 0)))
    return family


def _single(name: str, documentation: str, value: int | None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value or 0))
