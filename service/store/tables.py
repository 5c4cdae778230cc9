"""regtune's own tables. Optuna's tables live beside them in the same database, untouched."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    false,
    func,
    or_,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from regtune.service.store.clock import seconds_since


class Base(DeclarativeBase):
    pass


class StudyRow(Base):
    """A regtune study: its definition, lifecycle status and budget counters."""

    __tablename__ = "regtune_studies"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), default="default")
    name: Mapped[str] = mapped_column(String(128))
    optuna_name: Mapped[str] = mapped_column(String(256), unique=True)
    optuna_study_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)
    n_trials: Mapped[int] = mapped_column(Integer)
    max_parallel: Mapped[int] = mapped_column(Integer)
    n_running: Mapped[int] = mapped_column(Integer, default=0)
    n_reserved: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Slots λ paths hold for their further points: budget, not parallelism (migration 0004)."""
    slots_per_claim: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """Trial slots one worker's claim takes at most (``cost.slots_per_claim``: a fused pass's
    members), what the autoscaler divides the study's slots by (migration 0009); null, counted
    as 1, in a row an older regtune wrote."""
    n_done: Mapped[int] = mapped_column(Integer, default=0)
    max_retries: Mapped[int] = mapped_column(Integer, default=2)
    n_claims: Mapped[int] = mapped_column(Integer, default=0)
    n_errors: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    deadline: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_served_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    best_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    """The best value of a study with ``budget.stop`` (migration 0006); null without one."""
    best_trial: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The number of the trial that has ``best_value``."""
    best_at: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """The ``n_done`` at which the best value last improved by more than
    ``budget.stop.min_delta`` (or the study was extended): patience counts from it."""
    stopped_by: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """The rule of ``budget.stop`` that ended the study ('value', 'patience'): no claim from
    then on, and the study completes once nothing runs."""

    __table_args__ = (
        Index("ix_regtune_studies_tenant_name", "tenant", "name", unique=True),
        Index("ix_regtune_studies_tenant_status_created", "tenant", "status", "created_at"),
        Index("ix_regtune_studies_tenant_created", "tenant", "created_at"),
    )


class WorkerRow(Base):
    """A live worker process; ``last_seen`` is its heartbeat, judged by its own grace period."""

    __tablename__ = "regtune_workers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    last_seen: Mapped[datetime] = mapped_column(DateTime, index=True)
    study_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    trial_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    heartbeat_interval: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The worker's ``REGTUNE_HEARTBEAT_INTERVAL`` (migration 0007); null in a row an older
    regtune wrote."""
    grace_period: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The worker's ``REGTUNE_GRACE_PERIOD``: the silence after which the sweep judges it and
    its trials dead, whatever the sweeping process's own setting (``grace``)."""

    @classmethod
    def grace(cls, default: float) -> ColumnElement[float]:
        """The worker's grace period in seconds; ``default`` (the judging process's) for a row
        an older regtune wrote."""
        return func.coalesce(cls.grace_period, default)

    @classmethod
    def alive(
        cls, *, now: datetime, default: float, steady: float = math.inf
    ) -> ColumnElement[bool]:
        """Heard from within its own grace period (``grace``), or not to be judged yet: the
        judging process has reached the database for only ``steady`` seconds, less than that
        grace period, and a silence it did not see may be an outage's (``sweep``)."""
        grace = cls.grace(default)
        heard = seconds_since(cls.last_seen, now=now) <= grace
        return heard if math.isinf(steady) else or_(heard, grace > steady)


class ClaimRow(Base):
    """A slot taken by a worker; released on finish, or by the sweep when the worker died."""

    __tablename__ = "regtune_claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("regtune_studies.id", ondelete="CASCADE"), index=True
    )
    worker_id: Mapped[str] = mapped_column(String(64), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    claimed_at: Mapped[datetime] = mapped_column(DateTime)
    reserved: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """A λ path's further point (counted in the study's ``n_reserved``, not ``n_running``)."""


class DatasetRow(Base):
    """An uploaded dataset of one tenant: its summary and its encoded arrays.

    The arrays live in the database so that a worker on another machine needs only the database
    URL. ``id`` is a content hash, so the same upload is one row per tenant.
    """

    __tablename__ = "regtune_datasets"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    name: Mapped[str] = mapped_column(String(255))
    format: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(255))
    task: Mapped[str] = mapped_column(String(16))
    n_rows: Mapped[int] = mapped_column(Integer)
    n_features: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    """Columns, feature names, classes, target distribution and the missing-value policy."""
    data: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class ApiKeyRow(Base):
    """An API key of a tenant. Only the SHA-256 digest of the secret is stored."""

    __tablename__ = "regtune_api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class LeaseRow(Base):
    """A job that must run in one process at a time (the sweep): who holds it, until when."""

    __tablename__ = "regtune_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(DateTime)


RETIRED_ROW = 1
"""The one row of ``regtune_retired_trials``."""


class RetiredTrialsRow(Base):
    """The /metrics histograms of deleted studies' trials (``trials.stats.retire``), added back
    at every scrape so that deleting a study never lowers them (migration 0008)."""

    __tablename__ = "regtune_retired_trials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tallies: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
