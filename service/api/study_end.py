"""Why a study ended, said in one place: ``StudyOut.end`` and the study report say it alike, and
``regtune show`` / ``watch`` print the API's answer.

A time budget that runs out is a normal end, as Optuna's ``timeout`` and Ray Tune's
``time_budget_s`` are: the study completes with the trials done by then, and no error is
recorded (``finishing.settle``). Nor is a trial that failed along the way the error of a study
that completed or was cancelled: its end says how many did, and each FAIL trial says why.
While a study runs, a trial's error is not the study's either: its parameters run again, and
``trial_errors`` says so in neutral words (``error`` is the study's own).
"""

from __future__ import annotations

from typing import assert_never

from regtune.service.api.schemas import StudyEnd, TrialErrors
from regtune.service.spec.enums import ACTIVE, StudyStatus
from regtune.service.store.repos import best_model, studies
from regtune.service.store.tables import StudyRow

DEADLINE_ERROR = (
    "budget.timeout_s passed before budget.n_trials trials were done; the study ended with the "
    "trials it had (progress.done)"
)
"""What a study ended by its deadline stored as its error before its end had a field of its
own: not an error, so never shown as one (``error_of``)."""


def study_end(row: StudyRow, *, failed: int = 0) -> StudyEnd | None:
    """How ``row`` ended, or None while it is queued or running; ``failed``: its FAIL trials,
    which a study that did not fail names after its end."""
    status = StudyStatus(row.status)
    along = _failed_along_the_way(failed)
    done, n_trials = row.n_done, row.n_trials
    timeout_s = studies.definition_of(row).budget.timeout_s if done < n_trials else None
    match status:
        case StudyStatus.QUEUED | StudyStatus.RUNNING:
            return None
        case StudyStatus.COMPLETED if timeout_s is not None:  # only the deadline ends it short
            return StudyEnd(
                reason="timeout_s",
                message=f"budget.timeout_s ({timeout_s:g} s) passed: the study completed with "
                f"the {done} of budget.n_trials {n_trials} trials done by then{along}",
            )
        case StudyStatus.COMPLETED:
            return StudyEnd(
                reason="n_trials",
                message=f"budget.n_trials reached: {n_trials} trials done{along}",
            )
        case StudyStatus.CANCELLED:
            return StudyEnd(
                reason="cancelled",
                message=f"cancelled with {done} of budget.n_trials {n_trials} trials done{along}",
            )
        case StudyStatus.FAILED:
            return StudyEnd(
                reason="failed",
                message=f"failed with {done} of budget.n_trials {n_trials} trials done: the "
                "error says why",
            )
    assert_never(status)


def _failed_along_the_way(failed: int) -> str:
    if not failed:
        return ""
    one = failed == 1
    return (
        f"; {failed} trial{'' if one else 's'} failed along the way and {'was' if one else 'were'}"
        f" not counted (state FAIL: {'its' if one else 'each'} error says why)"
    )


def trial_errors(row: StudyRow, *, failed: int = 0) -> TrialErrors | None:
    """While ``row`` is queued or running, the last error of its trials (``failed``: its FAIL
    trials so far), whose parameters run again; None if it has none, or once it ended."""
    if row.error is None or StudyStatus(row.status) not in ACTIVE:
        return None
    if not failed:  # a worker died before its trial began: the slot is claimed again
        message = f"last error (the study goes on): {row.error}"
    else:
        one = failed == 1
        message = (
            f"last trial error ({'its' if one else 'their'} parameters run again; {failed} "
            f"trial{'' if one else 's'} failed so far, not counted toward budget.n_trials): "
            f"{row.error}"
        )
    return TrialErrors(failed=failed, last=row.error, message=message)


def error_of(row: StudyRow) -> str | None:
    """The study's own error, if it has one: why it failed, or its best model's once it
    completed. A trial's error while it runs is not (``trial_errors``); nor is one that older
    releases left on a completed or cancelled study, nor the deadline's end they stored as an
    error: its end (``study_end``) says how it ended."""
    error = row.error
    if error is None or error == DEADLINE_ERROR:
        return None
    status = StudyStatus(row.status)
    match status:
        case StudyStatus.QUEUED | StudyStatus.RUNNING:
            return None
        case StudyStatus.FAILED:
            return error
        case StudyStatus.COMPLETED:
            return error if best_model.is_model_error(error) else None
        case StudyStatus.CANCELLED:
            return None
    assert_never(status)
