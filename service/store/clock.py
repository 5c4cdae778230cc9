"""The one clock of the store: naive UTC, as Optuna writes its own timestamps."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
