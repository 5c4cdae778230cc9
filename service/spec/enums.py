"""The named values a definition and a study row hold: study status and task.

``StrEnum``s, so a member *is* its string: stored values, JSON answers and comparisons with
plain strings are unchanged.
"""

from __future__ import annotations

from enum import StrEnum


class StudyStatus(StrEnum):
    """Where a study is in its life; the ``status`` column of the studies table."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


ACTIVE = (StudyStatus.QUEUED, StudyStatus.RUNNING)
"""Statuses of a study that still schedules trials."""
FINAL = (StudyStatus.COMPLETED, StudyStatus.CANCELLED, StudyStatus.FAILED)
"""Statuses a study ends in."""


class Task(StrEnum):
    """What the model predicts; ``auto``: as the data says (settled when the study is created)."""

    AUTO = "auto"
    REGRESSION = "regression"
    BINARY = "binary"
    MULTICLASS = "multiclass"
