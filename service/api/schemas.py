"""Response bodies of the REST API (the request body is ``regtune.service.spec.StudySpec``).

pydantic only, no FastAPI: the Python client (``regtune.service.client``) parses answers into these
same models, so a field added here reaches the client without a second copy.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from regtune.service.spec.enums import StudyStatus
from regtune.service.spec.points import MAX_POINTS


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


UtcDateTime = Annotated[datetime, AfterValidator(_utc)]
"""regtune stores naive UTC, and so does Optuna for trial times (its ORM converts to and from
local time); answers carry the offset, as RFC 3339 date-time requires."""


class Answer(BaseModel):
    """A response body. Every field is sent, null or not (nothing is excluded when answers are
    serialized), so the served schema requires each: a client generated from it gets no field
    it must treat as possibly absent."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


TrialState = Literal["RUNNING", "COMPLETE", "PRUNED", "FAIL", "WAITING"]
"""Optuna's trial states, by its names."""


WORKERS_SCOPE_HEADER = "X-Regtune-Workers"
"""Whom ``GET /v1/workers`` lists: ``pool`` (every worker) or ``tenant`` (those at work on the
key's tenant's studies)."""
TENANTS_HEADER = "X-Regtune-Tenants"
"""Whose studies ``GET /v1/studies`` (and one study's GET) answer for: ``all`` (the admin key
listing every tenant's) or ``one``."""
STUDY_WAIT_MAX = 60.0
"""The longest ``GET /v1/studies/{id}?wait=`` holds its answer (seconds)."""


class FieldError(Answer):
    path: str = Field(examples=["budget.n_trials"])
    rule: str = Field(examples=["must be ≥ 1"])


ERROR_CODES = {
    "unparseable_body": "400, the body cannot be parsed at all (not JSON, YAML or multipart)",
    "bad_request": "400, the request cannot be served as asked",
    "unauthorized": "401, no key, or an unknown or revoked one",
    "forbidden": "403, the key may not do this",
    "not_found": "404, no such resource (for this key)",
    "method_not_allowed": "405, the path does not serve this method (Allow names those it does)",
    "conflict": "409, the request clashes with what is stored",
    "too_large": "413, the body is larger than the service allows",
    "invalid_request": "422, a parameter or a JSON body breaks a rule",
    "invalid_definition": "422, the study definition breaks a rule or does not fit its data",
    "invalid_upload": "422, the uploaded file cannot become a dataset",
    "internal_error": "500, the service failed",
    "database_unavailable": "503, the database refused or dropped the connection",
    "definition_too_new": "503, a newer regtune stored the study: another API process serves it",
    "artifact_store_unavailable": "503, the artifact store failed to open the file",
    "http_error": "any other HTTP error, by its status",
}
"""Every ``error.code`` the API answers, with its status and meaning."""


class ErrorBody(Answer):
    code: str = Field(
        examples=["invalid_definition"],
        description="what went wrong, for a program to act on: "
        + "; ".join(f"{code} ({said})" for code, said in ERROR_CODES.items()),
    )
    message: str
    fields: list[FieldError] = Field(default_factory=list)


class ErrorResponse(Answer):
    error: ErrorBody


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


class BestTrial(Answer):
    number: int
    value: float | None
    values: list[float | None] | None
    params: dict[str, Any]
    n_nonzero: float | None = Field(
        description="non-zero weights of the trial's models, the mean over its folds"
    )
    user_attrs: dict[str, Any]
    test_metrics: dict[str, Any] | None = Field(
        description="The best trial's own test metrics: its models (one per fold), trained on "
        "its training rows, scored on the test split."
    )
    refit_test_metrics: dict[str, Any] | None = Field(
        default=None,
        description="The best model's test metrics once the study completed: this "
        "configuration retrained on every non-test row (the refit; best_model.test_metrics), "
        "before refit_rows all trains the saved model on the test rows too. "
        "Its loss is on the refit's own standardization; compare r2 or accuracy. "
        "Null without a test split (validation.test_fraction 0), as test_metrics.",
    )


class BestModel(Answer):
    """The best trial's model, saved when the study completed; GET …/best-model downloads it."""

    artifact_id: str
    trial: int
    filename: str
    bytes: int
    sha256: str
    test_metrics: dict[str, Any] | None
    """None without a test split (``validation.test_fraction: 0``): no row to score."""
    val_metrics: dict[str, Any] = Field(
        description="The best trial's validation metrics, named without val_ (loss, rmse, …). A "
        "refit (refit true) trained on the validation rows too and has no validation rows of "
        "its own: these are the best trial's models' scores, not the saved model's. Without a "
        "refit (refit false, or a refused refit) the saved models are the trial's own, scored "
        "on their validation rows."
    )
    baseline_metrics: dict[str, Any] | None = None
    """A predictor that ignores the inputs, on the same test rows: the training mean
    (regression) or the training class frequencies, whose guess is the majority class. None
    without a test split, as ``test_metrics``."""
    refit: bool = False
    """Trained again on every non-test row (the definition's ``refit``), not the trial's own."""
    refit_rows: Literal["all", "non_test"] | None = None
    """The refit's rows (the definition's ``refit_rows``): ``all``, the test rows too, once
    ``test_metrics`` were measured on them by the refit on the other rows; ``non_test``, the
    measured refit itself; None without a refit (or for a model saved before the choice)."""
    train_rows: int | None = None
    """Rows the saved model trained on (per fold model when not refit)."""
    member_rows: list[int] | None = None
    """Rows each of its models trained on: under ``refit: false`` with k folds, one per fold
    model, each every non-test row but its fold's (together, every non-test row); else one,
    ``train_rows``. None for a model saved before they were recorded."""
    n_nonzero: int | None = None
    """Non-zero weights of the saved model itself (a weight any of its fold models uses);
    within ``objective.max_nonzero`` when the definition sets one."""
    n_weights: int | None = None
    refit_lambda: float | None = None
    """The λ the refit needed to keep ``objective.max_nonzero``, when above the trial's."""
    note: str | None = None
    """Why the saved model is not the plain refit of the best trial, if it is not."""
    created_at: UtcDateTime


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


ItemT = TypeVar("ItemT", bound=BaseModel)


class Page(Answer, Generic[ItemT]):
    """One page of a listing: ``items`` from ``offset`` on, at most ``limit``, of ``total``."""

    items: list[ItemT]
    total: int
    offset: int
    limit: int


class StudyPage(Page[StudyBrief]):
    pass


class CurvePoint(Answer):
    epoch: int
    value: float | None


class TrialOut(Answer):
    number: int
    state: TrialState
    value: float | None
    values: list[float | None] | None
    params: dict[str, Any]
    user_attrs: dict[str, Any]
    datetime_start: UtcDateTime | None
    datetime_complete: UtcDateTime | None
    learning_curve: list[CurvePoint] | None = None
    retried_from: int | None = None
    path_of: int | None = Field(
        default=None,
        description="the trial whose claim ran this λ path's point (null: a trial of its own "
        "claim, a path's first point included)",
    )


class TrialPage(Page[TrialOut]):
    pass


class ColumnInfo(Answer):
    name: str
    kind: Literal["numeric", "categorical"]
    n_missing: int
    categories: list[str] | None = None
    features: list[int] = Field(description="[start, stop) of its encoded features")


class DatasetBrief(Answer):
    id: str
    name: str
    format: Literal["csv", "parquet"]
    target: str
    task: Literal["regression", "binary", "multiclass"]
    n_rows: int
    n_features: int
    size_bytes: int
    created_at: UtcDateTime


class DatasetOut(DatasetBrief):
    sha256: str
    columns: list[ColumnInfo]
    feature_names: list[str]
    classes: list[str] | None
    target_distribution: dict[str, Any]
    missing: dict[str, Any] = Field(description="the missing-value policy and counts")
    ignored: list[str] = Field(
        default_factory=list, description="columns of the file left out at upload (sorted)"
    )
    encoding: str = Field(
        default="utf-8", description="the text encoding the file was read with (a CSV's)"
    )
    missing_values: list[str] = Field(
        default_factory=list,
        description="the upload's own missing-value marks, read besides the built-in ones (sorted)",
    )
    notes: list[str] = Field(
        default_factory=list,
        description="how the file was read that the caller should know (the task auto chose)",
    )


class DatasetPage(Page[DatasetBrief]):
    pass


class KeyOut(Answer):
    id: str
    tenant: str
    prefix: str = Field(description="the first characters of the secret, to recognise it")
    created_at: UtcDateTime
    revoked_at: UtcDateTime | None


class NewKey(KeyOut):
    key: str = Field(description="the secret; shown only in this response")
    warning: str | None = Field(
        default=None, description="what the caller should know about this key's tenant"
    )


WorkerActivity = Literal["idle", "running_trial", "setting_up", "saving_best_model"]
"""What a live worker is doing, as ``GET /v1/workers`` tells it."""


class WorkerOut(Answer):
    id: str
    host: str
    pid: int
    started_at: UtcDateTime
    last_heartbeat: UtcDateTime = Field(description="UTC time of the worker's last heartbeat")
    study_id: str | None = Field(
        description="study of the running trial, or of the best model the worker is saving "
        "(or of the trial it is starting); null when idle"
    )
    trial_number: int | None = Field(
        description="number of the running trial (of a fused pass, its first live member's: the "
        "study's trial list shows every RUNNING trial); null when idle, saving a study's best "
        "model or starting a trial"
    )
    activity: WorkerActivity = Field(
        default="idle",  # an older service's answer, without it: trial_number still says
        description="what the worker is doing: idle; running_trial (trial_number); setting_up, "
        "a slot of study_id claimed and no trial started yet (loading the study's data, "
        "building its sampler); saving_best_model, the best model of study_id",
    )


class Health(Answer):
    status: Literal["ok", "unavailable"]
    database: Literal["up", "down"] | None = Field(
        default=None, description="null from /healthz, which does not ask the database"
    )
    detail: str | None = Field(default=None, description="why the database is down")
