"""Why a study ended, said in one place: ``StudyOut.end`` and the study report say it alike, and
``regtune show`` / ``watch`` print the API's answer.

A time budget that runs out is a normal end, as Optuna's ``timeout`` and Ray Tune's
``time_budget_s`` are: the study completes with the trials done by then, and no error is
recorded (``finishing.settle``).
"""

from __future__ import annotations

from typing import assert_never

from regtune.service.api.schemas import StudyEnd
from regtune.service.spec.enums import StudyStatus
from regtune.service.store.repos import studies
from regtune.service.store.tables import StudyRow

DEADLINE_ERROR = (
    "budget.timeout_s passed before budget.n_trials trials were done; the study ended with the "
    "trials it had (progress.done)"
)
"""What a study ended by its deadline stored as its error before its end had a field of its
own: not an error, so never shown as one (``error_of``)."""


def study_end(row: StudyRow) -> StudyEnd | None:
    """How ``row`` ended, or None while it is queued or running."""
    status = StudyStatus(row.status)
    done, n_trials = row.n_done, row.n_trials
    timeout_s = studies.definition_of(row).budget.timeout_s if done < n_trials else None
    match status:
        case StudyStatus.QUEUED | StudyStatus.RUNNING:
            return None
        case StudyStatus.COMPLETED if timeout_s is not None:  # only the deadline ends it short
            return StudyEnd(
                reason="timeout_s",
                message=f"budget.timeout_s ({timeout_s:g} s) passed: the study completed with "
                f"the {done} of budget.n_trials {n_trials} trials done by then",
            )
        case StudyStatus.COMPLETED:
            return StudyEnd(
                reason="n_trials", message=f"budget.n_trials reached: {n_trials} trials done"
            )
        case StudyStatus.CANCELLED:
            return StudyEnd(
                reason="cancelled",
                message=f"cancelled with {done} of budget.n_trials {n_trials} trials done",
            )
        case StudyStatus.FAILED:
            return StudyEnd(
                reason="failed",
                message=f"failed with {done} of budget.n_trials {n_trials} trials done: the "
                "error says why",
            )
    assert_never(status)


def error_of(row: StudyRow) -> str | None:
    """The study's error, if it has one: the deadline's end, stored as one by older releases,
    is its end (``study_end``), not an error."""
    return None if row.error == DEADLINE_ERROR else row.error
