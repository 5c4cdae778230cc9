"""Why a study ended, said in one place: ``StudyOut.end`` and the study report say it alike, and
``regtune show`` / ``watch`` print the API's answer.

A time budget that runs out is a normal end, as Optuna's ``timeout`` and Ray Tune's
``time_budget_s`` are: the study completes with the trials claimed before it, run to their
end, and no error is recorded (``finishing.settle``); so is a stop rule that is met
(``budget.stop``: a goal value reached, or trials in a row that did not improve the best),
which says what it saw. Nor is a
trial that failed along the way the error of a study that completed or was cancelled: its end
says how many FAIL trials it has and what became of them (``Failures``): most were interrupted
(handed back by a worker that stopped, or failed by the sweep when their worker died) and run
again with the same parameters, or stopped by their study's end (a user's cancel, or the study's
failure for other trials' errors); the others failed of themselves, and each FAIL trial's error
says why. A failed study's end counts them too, after "the error says why". While a study runs,
a trial's error is not the study's either: the study goes on until its errors pass
``budget.max_retries``, and ``trial_errors`` says so in neutral words (``error`` is the study's
own).
"""

from __future__ import annotations

from typing import assert_never

from regtune.service.api.schemas.study_end import FailBreakdown, StopReason, StudyEnd, TrialErrors
from regtune.service.spec.enums import ACTIVE, StudyStatus
from regtune.service.spec.policies import StopRule
from regtune.service.spec.words import counted
from regtune.service.store.repos import missing_models, studies
from regtune.service.store.scheduling.claims.recovery import DIED_BEFORE_TRIAL
from regtune.service.store.tables import StudyRow
from regtune.service.store.trials.failures import Failures

DEADLINE_ERROR = (
    "budget.timeout_s passed before budget.n_trials trials were done; the study ended with the "
    "trials it had (progress.done)"
)
"""What a study ended by its deadline stored as its error before its end had a field of its
own: not an error, so never shown as one (``error_of``)."""
NO_FAILURES = Failures()


def study_end(row: StudyRow, *, failures: Failures = NO_FAILURES) -> StudyEnd | None:
    """How ``row`` ended, or None while it is queued or running; ``failures``: what became of
    its FAIL trials, which a study that did not fail names after its end."""
    status = StudyStatus(row.status)
    along = _not_counted(failures)
    done, n_trials = row.n_done, row.n_trials
    trials = counted(n_trials, "trial")  # "budget.n_trials 1 trial", "… 4 trials"
    budget = studies.definition_of(row).budget if done < n_trials else None
    timeout_s = budget.timeout_s if budget is not None else None
    split = fail_breakdown(failures).model_dump()
    match status:
        case StudyStatus.QUEUED | StudyStatus.RUNNING:
            return None
        case StudyStatus.COMPLETED if budget is not None and budget.stop and row.stopped_by:
            reason, said = _stopped(row, budget.stop)
            return StudyEnd(
                reason=reason,
                message=f"{said}: the study completed with {done} of budget.n_trials "
                f"{trials}{along}",
                **split,
            )
        case StudyStatus.COMPLETED if timeout_s is not None:  # only the deadline ends it short
            return StudyEnd(
                reason="timeout_s",
                message=f"budget.timeout_s ({timeout_s:g} s) passed: nothing was claimed after "
                f"it, and the study completed with {done} of budget.n_trials {trials} (those "
                f"claimed before it ran to their end){along}",
                **split,
            )
        case StudyStatus.COMPLETED:
            return StudyEnd(
                reason="n_trials",
                message=f"budget.n_trials reached: {trials} done{along}",
                **split,
            )
        case StudyStatus.CANCELLED:
            return StudyEnd(
                reason="cancelled",
                message=f"cancelled with {done} of budget.n_trials {trials} done{along}",
                **split,
            )
        case StudyStatus.FAILED:
            return StudyEnd(
                reason="failed",
                message=f"failed with {done} of budget.n_trials {trials} done: the "
                f"error says why{along}",
                **split,
            )
    assert_never(status)


def _stopped(row: StudyRow, stop: StopRule) -> tuple[StopReason, str]:
    """What the stop rule that ended ``row`` saw, in words (``StudyEnd.reason``, the start of
    its message)."""
    best = "none yet" if row.best_value is None else f"{row.best_value:g}, trial #{row.best_trial}"
    if row.stopped_by == "value":
        return "stop_value", (
            f"budget.stop.value {stop.value:g} reached by trial #{row.best_trial} "
            f"({row.best_value:g})"
        )
    rule = f"budget.stop.patience: {stop.patience} trials in a row did not improve the best value"
    by = f"by more than budget.stop.min_delta {stop.min_delta:g}"
    if stop.patience is not None and row.n_done - row.best_at < stop.patience:
        # a trial running when the rule met finished later and improved the best: the rule
        # saw an older best, which the row no longer holds
        return "stop_patience", f"{rule} {by}; a trial running then improved it later ({best})"
    return "stop_patience", f"{rule} ({best}) {by}"


def fail_breakdown(failures: Failures) -> FailBreakdown:
    """The FAIL trials counted by what became of them (``Failures``), as the API shows them."""
    return FailBreakdown(
        interrupted=failures.interrupted,
        never_run=failures.not_run,
        stopped_by_cancel=failures.stopped_by_cancel,
        stopped_by_study_failure=failures.stopped_by_study_failure,
        failed=failures.own,
    )


def _not_counted(failures: Failures) -> str:
    """The FAIL trials in words, by what became of them (``Failures``): a trial interrupted
    and run again, or stopped by its study's end, is not one that failed; "" if there is
    none."""
    if not failures.failed:
        return ""

    def one(n: int) -> bool:
        return n == 1

    parts = []
    if n := failures.run_again:
        parts.append(
            f"{n} interrupted (handed back, or {'its' if one(n) else 'their'} worker died) and "
            "run again"
        )
    if n := failures.retries_not_run:
        parts.append(f"{n} interrupted and not run again (the study ended first)")
    if n := failures.not_run:
        parts.append(f"{n} queued and never run (the study ended first)")
    if n := failures.stopped_by_cancel:
        parts.append(f"{n} stopped by the cancel")
    if n := failures.stopped_by_study_failure:
        parts.append(f"{n} stopped when the study failed")
    if n := failures.own:
        parts.append(f"{n} failed ({'its' if one(n) else 'each'} error says why)")
    total = failures.failed
    return (
        f"; {total} trial{'' if one(total) else 's'} not counted toward budget.n_trials "
        f"(state FAIL): {', '.join(parts)}"
    )


def trial_errors(row: StudyRow, *, failures: Failures = NO_FAILURES) -> TrialErrors | None:
    """While ``row`` is queued or running, its last error (each one counted against
    ``budget.max_retries``: a trial whose objective raised, whose parameters do not run again,
    or a worker that died before its trial began), with what became of its FAIL trials so far;
    None if it has none, or once it ended."""
    if row.error is None or StudyStatus(row.status) not in ACTIVE:
        return None
    errors, allowed = row.n_errors or 0, row.max_retries
    head = (
        "last error (no trial had started"
        if row.error == DIED_BEFORE_TRIAL
        else "last trial error (its parameters are not run again"
    )
    budget = (
        f"; the study goes on, failing only past budget.max_retries {allowed} errors: "
        f"{errors} so far"
        if errors
        else "; the study goes on"
    )
    message = f"{head}{budget}{_not_counted(failures)}): {row.error}"
    return TrialErrors(
        failed=failures.failed,
        interrupted=failures.interrupted,
        errors=errors,
        last=row.error,
        message=message,
    )


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
            return error if missing_models.is_model_error(error) else None
        case StudyStatus.CANCELLED:
            return None
    assert_never(status)
