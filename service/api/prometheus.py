"""Prometheus metrics computed from the database at scrape time.

API and workers are separate processes, often on separate machines, so in-process counters
would each see a slice. Everything here is read from the one database when /metrics is
scraped: any API replica reports the same numbers, and worker-side measurements (trial
durations from Optuna's trial datetimes, claim latency that each worker records on its trial
as a system attribute) need no push gateway. Finished trials are folded in once per process
(``regtune.service.store.trials.stats``), so a scrape costs the same at 1,000 or 100,000 trials.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

from optuna.trial import TrialState
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from regtune.service.settings import get_settings
from regtune.service.spec.enums import StudyStatus
from regtune.service.store.backoff import TRANSIENT
from regtune.service.store.clock import utcnow
from regtune.service.store.reads import at_once, read
from regtune.service.store.trials.stats import (
    CLAIM_BUCKETS,
    DURATION_BUCKETS,
    FINISHED,
    Histogram,
    Snapshot,
    TrialStats,
)


def histogram(
    name: str, documentation: str, samples: dict[str, Histogram], label: str
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation, labels=[label] if label else None)
    for key, values in samples.items():
        cumulative = [
            (_le(bound), float(count))
            for bound, count in zip(values.bounds, values.cumulative(), strict=True)
        ]
        family.add_metric([key] if label else [], cumulative, sum_value=float(values.total))
    return family


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


class DatabaseCollector(Collector):
    """Studies by status, trials by state, live workers, trial duration and claim latency."""

    def __init__(self) -> None:
        self.stats = TrialStats()

    def collect(self) -> Iterator[Metric]:
        """The families read from the database, and ``regtune_database_up`` 1; in an outage
        that alone, 0, so a scrape still gets the process's own metrics (was: a 503, the
        request metrics gone when an operator most wants them), as Prometheus's exporters
        say ``up``."""
        at, grace = utcnow(), get_settings().grace_period
        try:
            now = read(
                lambda session: at_once(
                    session, lambda s: self.stats.snapshot(s, now=at, grace=grace)
                )
            )
        except TRANSIENT:
            yield _database_up(False)
            return
        yield _database_up(True)
        yield from _families(now)

    def describe(self) -> Iterator[Metric]:
        """The families ``collect`` yields, without their values: what registering the
        collector asks for its names (else the registry collects, reading the database)."""
        yield _database_up(True)
        yield from _families(
            Snapshot(
                studies={},
                trials={},
                durations={s: Histogram(DURATION_BUCKETS) for s in FINISHED},
                claim_seconds=Histogram(CLAIM_BUCKETS),
                workers_live=0,
                claims_open=0,
            )
        )


def _database_up(up: bool) -> GaugeMetricFamily:
    return _single(
        "regtune_database_up",
        "1 if this scrape read the database, 0 in an outage (the database's families left out).",
        int(up),
    )


def _families(now: Snapshot) -> Iterator[Metric]:
    yield _gauge("regtune_studies", "Studies by status.", "status", now.studies, tuple(StudyStatus))
    yield _gauge("regtune_trials", "Trials by state.", "state", now.trials, _state_names())
    yield _single("regtune_workers_live", "Workers with a recent heartbeat.", now.workers_live)
    yield _single("regtune_claims_open", "Trial slots currently held by workers.", now.claims_open)
    yield histogram(
        "regtune_trial_duration_seconds",
        "Wall time of finished trials (deleted studies' too), from Optuna's trial datetimes.",
        {s: now.durations[s] for s in FINISHED},
        "state",
    )
    yield histogram(
        "regtune_claim_latency_seconds",
        "Time a worker's claim took, one sample per claim: a single trial, a fused pass of "
        "K trials (its two transactions) or a lambda path, recorded on the first trial it "
        "started, or the FAIL trial of a claim that could not set up (deleted studies' too).",
        {"": now.claim_seconds},
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
