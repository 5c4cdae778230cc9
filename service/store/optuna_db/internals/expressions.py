"""SQL expressions on Optuna's trial rows: its private UTC times and the open trials."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from regtune.service.store.optuna_db.internals.handles import om


def trial_started_utc() -> Any:
    """The column of a trial's start time in UTC (``datetime_start`` is local time)."""
    return om.TrialModel._datetime_start_utc


def trial_completed_utc() -> Any:
    """The column of a trial's completion time in UTC."""
    return om.TrialModel._datetime_complete_utc


def open_trials() -> Any:
    """A trial is RUNNING or WAITING, in the very words of the index of open trials (migration
    0003): SQLite uses a partial index only for a query that repeats its condition, and neither
    database can prove it from a bound state."""
    return text("trials.state IN ('RUNNING', 'WAITING')")
