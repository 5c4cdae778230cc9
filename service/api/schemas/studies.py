"""A study as the API answers it (one, a page of them, an extension) and the extension's body."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from regtune.service.api.schemas.answer import Answer, Page, UtcDateTime
from regtune.service.api.schemas.best import BestModel, BestTrial
from regtune.service.api.schemas.study_end import FailBreakdown, StudyEnd, TrialErrors
from regtune.service.spec.enums import StudyStatus
from regtune.service.spec.points import MAX_POINTS

TENANTS_HEADER = "X-Regtune-Tenants"
"""Whose studies ``GET /v1/studies`` (and one study's GET) answer for: ``all`` (the admin key
listing every tenant's) or ``one``."""
STUDY_WAIT_MAX = 60.0
"""The longest ``GET /v1/studies/{id}?wait=`` holds its answer (seconds)."""


class StopProgress(Answer):
    """Where a study's stop rule (``budget.stop``) stands, as the database counts it."""

    best_value: float | None = Field(
        description="the best COMPLETE trial's value the rule compares (null before one)"
    )
    since_improvement: int = Field(
        description="trials counted since the best value last improved by more than "
        "budget.stop.min_delta (or since the study was extended): what budget.stop.patience "
        "counts"
    )
    stopped_by: Literal["value", "patience"] | None = Field(
        description="the rule met, if one was: no trial starts from then on, the running ones "
        "finish and count, and the study completes"
    )


class Progress(Answer):
    done: int = Field(description="trials COMPLETE or PRUNED, counted toward n_trials")
    n_trials: int
    running: int
    fraction: float
    stop: StopProgress | None = Field(
        default=None, description="the stop rule's standing; null without budget.stop"
    )


class ValidationOut(Answer):
    scheme: str = Field(description="how the trials were validated: 5-fold, holdout 0.2, ...")
    chosen_by: str = Field(
        description="definition (given), or the default rule that chose it for this data"
    )


class SelectionOut(Answer):
    rule: Literal["best", "one_se"] = Field(
        description="objective.select: how best_trial is chosen among the COMPLETE trials"
    )
    note: str | None = Field(
        default=None,
        description="objective.relax_margin and one_se: the trials and standard errors the "
        "choice measured; trials marked diverged (user attribute diverged: true) whose finite "
        "value the choice passed by",
    )


class StudyOut(Answer):
    id: str
    name: str
    tenant: str
    status: StudyStatus
    optuna_study_name: str
    definition: dict[str, Any] = Field(
        description="the definition as stored: as POST /v1/studies took it, with what "
        "admission filled in (the task, the validation scheme, a drawn sampler seed): the "
        "body POST /v1/studies takes (StudySpec)"
    )
    counts: dict[str, int]
    progress: Progress
    stopped_early: int = Field(
        default=0,
        description="COMPLETE trials that training.early_stopping ended before "
        "training.max_epochs: each has user_attrs.stopped_early true, the epochs it ran "
        "(epochs_run) and the epoch whose weights it kept (best_epoch)",
    )
    best_trial: BestTrial | None
    validation: ValidationOut | None = None
    selection: SelectionOut | None = None
    pareto_front: list[BestTrial] | None = Field(
        default=None, description="several objectives: the non-dominated feasible trials"
    )
    best_model: BestModel | None = None
    report_url: str | None = Field(
        default=None, description="the study report: one HTML page of plots (GET it)"
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="what the definition asks for that runs as given but likely not as meant "
        "(a pruner that prunes what early stopping would keep, or decides only at the last "
        "epoch), each as 'field: what happens; what to do'; the study was created all the same",
    )
    fail_breakdown: FailBreakdown = Field(
        default_factory=FailBreakdown,
        description="counts.FAIL by what became of each trial, kept as the study runs (once it "
        "ended, end counts the same): failed counts the trials that failed of themselves; the "
        "others were interrupted and run again, never run, or stopped by their study's end, "
        "none of them a failure of its own (regtune watch shows them apart from failed)",
    )
    end: StudyEnd | None = Field(
        default=None, description="why the study ended; null while it is queued or running"
    )
    trial_errors: TrialErrors | None = Field(
        default=None,
        description="while the study is queued or running, its last error counted against "
        "budget.max_retries (a trial whose objective raised: its parameters do not run again) "
        "and its FAIL trials so far by what became of them: not the study's error, as it goes "
        "on; null if it had no such error, and once the study ended (end then counts its FAIL "
        "trials; error says why a failed study failed)",
    )
    error: str | None = Field(
        description="the study's own error: why it failed, or, once it completed, why its best "
        "model was not saved; null if nothing went wrong (a trial's error while the study runs "
        "is trial_errors', and a study that completed or was cancelled has none of its trials' "
        "errors, nor one that ran out of budget.timeout_s: end says so, and what became of its "
        "trials in state FAIL)"
    )
    created_at: UtcDateTime
    started_at: UtcDateTime | None
    finished_at: UtcDateTime | None


class StudyExtension(BaseModel):
    """The body of ``POST /v1/studies/{id}/extend``."""

    model_config = ConfigDict(extra="forbid", strict=True)
    n_trials: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="how many trials more: budget.n_trials grows by this many (give this or "
        "n_trials_total)",
        examples=[50],
    )
    n_trials_total: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="the budget in all: budget.n_trials becomes this, so the request can be "
        "repeated (the budget it is already changes nothing, timeout_s included: extended "
        "false, unless points_to_evaluate gives points the study was not last given, which "
        "need room: a 422; a smaller one is a 409, a budget only grows); give this or n_trials",
        examples=[100],
    )
    timeout_s: float | None = Field(
        default=None,
        gt=0,
        le=30 * 24 * 3600,
        allow_inf_nan=False,
        description="a new time budget (budget.timeout_s), counted from the extension; left "
        "out, the definition's budget.timeout_s, if it has one, counted from the extension",
    )
    points_to_evaluate: list[dict[str, Any]] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_POINTS,
        description="configurations to run first, as the definition's "
        "sampler.points_to_evaluate gives them (Optuna's enqueue_trial), e.g. [{lambda: 0.01, "
        "l1_ratio: 0.5}]: each is a trial of the grown budget, so it grows by at least as many "
        "(alone, the budget grows by one per point, and by a path's points for one that leaves "
        "lambda out in a λ-path study: it runs a path at its other knobs); appended to the "
        "definition's points, queued with the budget in one commit, run before the sampler's "
        "next trials",
        examples=[[{"lambda": 0.01, "l1_ratio": 0.5}]],
    )


class ExtendedStudy(Answer):
    study: StudyOut = Field(description="the study after the extension")
    n_trials_before: int = Field(description="budget.n_trials before the extension")
    status_before: StudyStatus = Field(description="the study's status before the extension")
    reopened: bool = Field(
        description="the study had completed or been cancelled and is queued again: workers "
        "claim it as any queued study, and its best model is the one saved at its next end"
    )
    extended: bool = Field(
        description="the budget grew; false when n_trials_total was the budget already, and "
        "nothing changed"
    )


class StudyBrief(Answer):
    id: str
    name: str
    tenant: str
    status: StudyStatus
    n_trials: int
    done: int
    running: int
    created_at: UtcDateTime
    finished_at: UtcDateTime | None


class StudyPage(Page[StudyBrief]):
    pass
