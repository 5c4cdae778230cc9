"""Why a study ended, its trial errors while it runs, and what became of its FAIL trials."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from regtune.service.api.schemas.answer import Answer


class TrialErrors(Answer):
    """While a study runs: its last error and its FAIL trials so far. Not the study's error: the
    study goes on (it fails only once its errors pass ``budget.max_retries``)."""

    failed: int = Field(description="trials in state FAIL so far, not counted toward n_trials")
    interrupted: int = Field(
        default=0,
        description="of those, the trials interrupted (handed back by a worker that stopped or "
        "met a database outage, or failed by the sweep when their worker died), whose "
        "parameters run again: not failures of their own",
    )
    errors: int = Field(
        default=0,
        description="errors counted against budget.max_retries so far (trials whose objective "
        "raised, whose parameters do not run again, and workers that died before their trial "
        "began): the study fails once they pass it",
    )
    last: str = Field(description="the last error (each FAIL trial says its own)")
    message: str = Field(
        examples=[
            "last trial error (its parameters are not run again; the study goes on, failing only "
            "past budget.max_retries 2 errors: 1 so far; 3 trials not counted toward "
            "budget.n_trials (state FAIL): 2 interrupted (handed back, or their worker died) and "
            "run again, 1 failed (its error says why)): FloatingPointError: the trainer diverged"
        ],
        description="all of it in words, as the study report and regtune show / watch say them",
    )


Interrupted = Annotated[
    int,
    Field(
        description="FAIL trials interrupted (handed back by a worker that stopped or met a "
        "database outage, or failed by the sweep when their worker died) and queued to run "
        "again with the same parameters: not failures of their own"
    ),
]
NeverRun = Annotated[
    int,
    Field(
        description="FAIL trials that were queued (such a retry) and never started: the study "
        "ended first"
    ),
]
StoppedByCancel = Annotated[
    int,
    Field(
        description="FAIL trials that were running when the study was cancelled: their worker "
        "stopped them for the cancel, not failures of their own"
    ),
]
StoppedByStudyFailure = Annotated[
    int,
    Field(
        description="FAIL trials that were running when the study failed (other trials' errors "
        "passed budget.max_retries): their worker stopped them, not failures of their own"
    ),
]
FailedOfThemselves = Annotated[
    int,
    Field(
        description="FAIL trials that failed of themselves (their objective raised, their worker "
        "died with no retry left, or no retry of them could be queued): each one's error says "
        "why"
    ),
]


class FailBreakdown(Answer):
    """A study's trials in state FAIL (not counted toward budget.n_trials) by what became of
    them: ``interrupted`` + ``never_run`` + ``stopped_by_cancel`` + ``stopped_by_study_failure``
    + ``failed`` is ``counts.FAIL``."""

    interrupted: Interrupted = 0
    never_run: NeverRun = 0
    stopped_by_cancel: StoppedByCancel = 0
    stopped_by_study_failure: StoppedByStudyFailure = 0
    failed: FailedOfThemselves = 0


StopReason = Literal["stop_value", "stop_patience"]
"""A study's end by its stop rule (``budget.stop``)."""


class StudyEnd(Answer):
    """Why a study ended: its ``status`` says how, this says what ended it, and what became of
    the trials it did not count (state FAIL), as ``FailBreakdown`` counts them: their sum is
    ``counts.FAIL``."""

    reason: Literal["n_trials", "timeout_s", StopReason, "cancelled", "failed"] = Field(
        description="n_trials: budget.n_trials trials were done; timeout_s: budget.timeout_s "
        "passed first, a normal end (status completed) with the trials claimed before it, run to "
        "their end; "
        "stop_value: the best value reached budget.stop.value; stop_patience: "
        "budget.stop.patience trials in a row did not improve the best value by more than "
        "budget.stop.min_delta (either a normal end, status completed, with the trials done by "
        "then: the trials running when the rule was met finished and count); "
        "cancelled: the study was cancelled; failed: it could not go on (error says why)"
    )
    message: str = Field(
        examples=[
            "budget.n_trials reached: 50 trials done; 3 trials not counted toward "
            "budget.n_trials (state FAIL): 2 interrupted (handed back, or their worker died) and "
            "run again, 1 failed (its error says why)"
        ],
        description="the reason in words, as the study report and regtune show say it, with "
        "the study's trials in state FAIL (not counted toward budget.n_trials), if it has any, "
        "by what became of them",
    )
    interrupted: Interrupted = 0
    never_run: NeverRun = 0
    stopped_by_cancel: StoppedByCancel = 0
    stopped_by_study_failure: StoppedByStudyFailure = 0
    failed: FailedOfThemselves = 0
