"""One settings object, read from ``REGTUNE_*`` environment variables."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from regtune.service.database_url import checked_database_url, hide_password
from regtune.service.errors import FieldProblem, InvalidSettings
from regtune.service.header_keys import header_safe, holds_scheme
from regtune.service.logs import LogFormat
from regtune.service.spec.training import MAX_FUSED_TRIALS

MIN_WORKER_MEMORY_MB = 512
"""The lowest ``REGTUNE_WORKER_MEMORY_MB`` but 0: a worker holds about 300 MiB (of the data
limit it sets) before it claims anything, and a small trial needs room beside it."""
PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "password", "admin", "example"}
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LOG_LEVELS: tuple[str, ...] = get_args(LogLevel)
LONGEST_WAIT_S = 86_400
"""The longest interval or wait a setting may give (a day). Longer ones are no schedule but a
mistake, and past what a thread may wait (``threading.TIMEOUT_MAX``) or a date may reach, the
waiting thread dies: ``REGTUNE_SWEEP_INTERVAL=inf`` killed the API's sweep with an
``OverflowError``, so a dead worker's trial was never failed or retried."""
LONGEST_HEARTBEAT_S = 3_600
"""Heartbeats at most an hour apart, so that the grace period of three of them fits in a day."""
BEATS_PER_GRACE = 3
"""The grace period spans at least this many heartbeat intervals. The sweep fails a trial whose
last heartbeat is older than the grace period, and a worker gives its slot up once two of its
heartbeats are further apart than ``grace − interval`` (its fence: a sweep may have failed the
trial). At three intervals a trial is failed only after two heartbeats in a row were missed, and
a heartbeat on time stays a full interval inside the fence; at one interval or less every live
trial looks stale to the sweep and every heartbeat breaks the fence."""


def _repeats(text: str) -> bool:
    """Whether ``text`` is a shorter text repeated (``aaaa``, ``changemechangeme``), which no
    random secret of 16 characters or more is."""
    return text in (text + text)[1:-1]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REGTUNE_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./regtune.db",
        description="SQLAlchemy URL; a SQLite file by default, PostgreSQL for a worker pool.",
    )
    max_trials_per_study: int = Field(default=10_000, ge=1)
    heartbeat_interval: int = Field(
        default=5, ge=1, le=LONGEST_HEARTBEAT_S, description="Seconds between heartbeats."
    )
    grace_period: int = Field(
        default=20,
        ge=2,
        le=LONGEST_WAIT_S,
        description="Seconds without a heartbeat before a trial is stale; at least 3 × "
        "heartbeat_interval.",
    )
    sweep_interval: float = Field(
        default=5.0,
        gt=0,
        le=LONGEST_WAIT_S,
        description="Seconds between stale-trial sweeps in API and idle workers.",
    )
    poll_min: float = Field(
        default=0.2, gt=0, le=LONGEST_WAIT_S, description="First idle back-off of a worker (s)."
    )
    poll_max: float = Field(
        default=5.0, gt=0, le=LONGEST_WAIT_S, description="Longest idle back-off of a worker (s)."
    )
    listen_for_work: bool = Field(
        default=True,
        description="PostgreSQL: an idle worker LISTENs for what may have made room (a study "
        "submitted, slots given back) instead of waiting out its back-off. Turn it off behind a "
        "transaction-pooling proxy (PgBouncer), which cannot hold a LISTEN.",
    )
    warm_up: bool = Field(
        default=True,
        description="Before an API process serves, prepare every route and read the recent "
        "studies ahead, so its first requests cost what later ones do (tens of ms at start). "
        "Off: an app that serves a few requests and goes (one built in a test) starts sooner "
        "and pays on each route's first use.",
    )
    torch_threads: int = Field(
        default=1,
        ge=1,
        description="Compute threads per worker process: torch's, and the BLAS numpy calls.",
    )
    fused_trials: int = Field(
        default=8,
        ge=1,
        le=MAX_FUSED_TRIALS,
        description="Trials of an MLP study a worker claims and trains in one pass (one "
        "stacked model, each member its own trial), unless the study's training.fused_trials "
        "says otherwise; 1 runs one trial at a time.",
    )
    db_pool_size: int = Field(
        default=2,
        ge=1,
        description="Connections kept per engine (a worker has one engine, an API process three).",
    )
    db_max_overflow: int = Field(
        default=0, ge=0, description="Extra connections per engine beyond db_pool_size."
    )
    sqlite_busy_timeout_ms: int = Field(default=60_000, ge=0)
    artifact_dir: Path = Field(default=Path("./regtune-artifacts"))
    artifact_store: Literal["filesystem", "s3"] = Field(
        default="filesystem",
        description="Where best models go: artifact_dir, or an S3-compatible bucket (boto3, the "
        "s3 extra; credentials from the usual AWS_* variables).",
    )
    s3_bucket: str | None = Field(default=None, description="Bucket of the s3 artifact store.")
    s3_endpoint_url: str | None = Field(
        default=None, description="Endpoint of an S3-compatible store (MinIO, Ceph...)."
    )
    log_format: LogFormat = Field(
        default="auto",
        description="text: lines for people; json: one object per line with study and trial "
        "ids; auto: text when stderr is a terminal, else json.",
    )
    log_level: LogLevel = Field(
        default="INFO", description="Least severe log lines shown; any case (debug, Info)."
    )
    public_url: str | None = Field(
        default=None, description="Base URL of the API, used in links shown by the dashboard."
    )
    objective_factory: str = Field(
        default="regtune.worker.objective:make_objective",
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description=(
            "module:function the worker calls to turn a definition into an Optuna objective; "
            "benchmarks use bench.sleep_objective:make_objective."
        ),
    )
    sleep_trial_seconds: float = Field(
        default=1.0, ge=0, description="Seconds one trial of the sleep objective takes."
    )

    # ------------------------------------------------------------------ access and limits
    admin_key: SecretStr | None = Field(
        default=None,
        description="Bootstrap admin key: creates and revokes API keys. Setting it turns auth on.",
    )
    insecure_no_auth: bool = Field(
        default=False,
        description="Allow `api`/`serve` on a non-loopback address without any API key.",
    )
    dashboard_network_ok: bool = Field(
        default=False,
        description="Let `regtune dashboard` listen off loopback: only inside a container whose "
        "port is published on loopback (optuna-dashboard has no authentication).",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated origins allowed by CORS; none: CORS off."
    )
    max_body_bytes: int = Field(default=1_000_000, ge=1_000, description="Largest request body.")
    max_upload_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1_000, description="Largest dataset upload (bytes)."
    )
    dataset_max_columns: int = Field(default=1_000, ge=2, description="Features after one-hot.")
    dataset_max_categories: int = Field(
        default=50, ge=2, description="Most distinct values a text column may one-hot encode to."
    )
    dataset_min_rows: int = Field(default=20, ge=2)
    dataset_max_rows: int = Field(default=2_000_000, ge=2)
    dataset_max_line_bytes: int = Field(default=1024 * 1024, ge=100)
    dataset_max_cells: int = Field(
        default=40_000_000,
        ge=100,
        description="Most rows × columns an upload may decode to (checked from a Parquet file's "
        "metadata before any data is read).",
    )

    # ------------------------------------------------------------------ what a study may cost
    max_grid_points: int = Field(
        default=100_000, ge=1, description="Most points a grid sampler's search space may have."
    )
    max_trial_memory_mb: int = Field(
        default=2048,
        ge=16,
        description="Most memory (MiB) one trial of a definition may need by the API's estimate "
        "(data, model and optimizer state per fold, activations, sampler).",
    )
    max_trial_tflop: float = Field(
        default=100.0,
        gt=0,
        description="Most compute (TFLOP) one trial may need: 6 × parameters × training rows × "
        "epochs × folds.",
    )
    max_iteration_gflop: float = Field(
        default=5.0,
        gt=0,
        description="Most compute (GFLOP) one exact-solver iteration may need: the solver "
        "checks for a cancel or a shutdown between iterations, so this bounds how long it "
        "takes to see one.",
    )
    max_reports_per_trial: int = Field(
        default=10_000,
        ge=1,
        description="Most epochs one trial may report (one learning-curve row each): "
        "max_iter / report_every for the exact solver, max_epochs for minibatch.",
    )
    tenant_max_running: int = Field(
        default=0,
        ge=0,
        description="Most trials one tenant's studies may run at once across the pool "
        "(0: no limit beyond each study's budget.max_parallel).",
    )
    shutdown_grace_s: float = Field(
        default=30.0,
        gt=0,
        le=LONGEST_WAIT_S,
        description="Seconds `regtune serve` gives its children to stop (workers hand their "
        "trials back) before it kills them and hands a killed worker's trial back itself.",
    )
    worker_memory_mb: int = Field(
        default=4096,
        ge=0,
        description="Memory limit (MiB) a worker sets on itself, so a trial that needs more "
        f"fails with MemoryError instead of being killed; 0 leaves it unlimited, else at "
        f"least {MIN_WORKER_MEMORY_MB} (what the worker itself needs).",
    )

    @field_validator("worker_memory_mb")
    @classmethod
    def _room_to_start(cls, value: int) -> int:
        """Below the floor the worker died at start, in a MemoryError traceback (256 MiB) or a
        C++ ``bad_alloc`` abort (200 MiB), before it could take any trial."""
        if 0 < value < MIN_WORKER_MEMORY_MB:
            raise ValueError(
                f"must be 0 (no limit) or at least {MIN_WORKER_MEMORY_MB} MiB: a worker needs "
                "about 300 MiB before its first trial (Python, torch, the database drivers)"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _normalize_url(cls, value: str) -> str:
        return checked_database_url(value)

    @field_validator("grace_period")
    @classmethod
    def _room_for_missed_beats(cls, value: int, info: ValidationInfo) -> int:
        interval = info.data.get("heartbeat_interval")
        if interval is not None and value < BEATS_PER_GRACE * interval:
            raise ValueError(
                f"must be at least {BEATS_PER_GRACE} × REGTUNE_HEARTBEAT_INTERVAL "
                f"({BEATS_PER_GRACE} × {interval} = {BEATS_PER_GRACE * interval} s), so that a "
                "live worker's trials are failed as stale only after two heartbeats in a row "
                "are missed"
            )
        return value

    @field_validator("poll_max")
    @classmethod
    def _backoff_grows(cls, value: float, info: ValidationInfo) -> float:
        first = info.data.get("poll_min")
        if first is not None and value < first:
            raise ValueError(
                f"must be at least REGTUNE_POLL_MIN ({first:g} s): an idle worker's back-off "
                "starts at REGTUNE_POLL_MIN and doubles up to REGTUNE_POLL_MAX"
            )
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: object) -> object:
        """``debug`` as ``DEBUG``; anything else is refused as it was given."""
        if isinstance(value, str) and value.strip().upper() in LOG_LEVELS:
            return value.strip().upper()
        return value

    @field_validator("admin_key")
    @classmethod
    def _real_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None  # set but empty, as compose's ${REGTUNE_ADMIN_KEY:-} gives: no key
        secret = value.get_secret_value()
        if not secret.strip():  # stripped it would be no key, auth off: not what it asks
            raise ValueError(
                "holds only spaces or line breaks: give a random secret of at least 16 "
                "characters (python3 -c 'import secrets; print(secrets.token_urlsafe(32))' "
                "makes one), or leave it empty for no key (auth off)"
            )
        if not header_safe(secret):  # else taken at start, then every admin request a 401
            raise ValueError(
                "must be printable ASCII, as the Authorization header carries it: no other "
                "letters, no line breaks or control characters, no spaces at either end (a "
                "trailing newline from the file it was read from is the usual cause: strip it, "
                "or no client could send the key)"
            )
        if holds_scheme(secret):  # no client would send it (``header_key``)
            raise ValueError(
                "holds 'Bearer' before the key: give the key alone (clients send "
                "Authorization: Bearer <key> themselves)"
            )
        if len(secret) < 16 or secret.lower() in PLACEHOLDER_SECRETS or _repeats(secret):
            raise ValueError(
                "must be a random secret of at least 16 characters, not a word or a pattern "
                "repeated: python3 -c 'import secrets; "
                "print(secrets.token_urlsafe(32))' makes one"
            )
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip() for o in value.split(",") if o.strip()]
        return value


_explicit: Settings | None = None


@lru_cache
def get_settings() -> Settings:
    """The settings of this process; ``InvalidSettings`` names each variable that is wrong."""
    if _explicit is not None:
        return _explicit
    try:
        return Settings()
    except ValidationError as exc:
        raise InvalidSettings(
            f"{exc.error_count()} REGTUNE_* variable(s) cannot be used",
            fields=[_problem(error) for error in exc.errors()],
        ) from exc


_SECRETS = {
    name
    for name, field in Settings.model_fields.items()
    if SecretStr in (field.annotation, *getattr(field.annotation, "__args__", ()))
}


def _problem(error: ErrorDetails) -> FieldProblem:
    """One variable as the user spelled it (names are case-insensitive), the rule it breaks and
    the value it has: a password hidden, a secret not shown at all."""
    name = str(error["loc"][0]) if error["loc"] else ""
    variable = f"{Settings.model_config.get('env_prefix', '')}{name}".upper()
    spelled = [key for key in os.environ if key.upper() == variable]
    given = [key for key in spelled if os.environ[key] == error["input"]]
    variable = next(iter(given or spelled), variable)
    ctx = error.get("ctx") or {}
    rule = str(ctx["error"]) if error["type"] == "value_error" and "error" in ctx else error["msg"]
    if name in _SECRETS:
        return FieldProblem(path=variable, rule=rule)
    value = error["input"]
    if name == "database_url" and isinstance(value, str):
        value = hide_password(value)
    return FieldProblem(path=variable, rule=f"{rule}, got {value!r}")


def use_settings(settings: Settings | None) -> None:
    """Make ``settings`` what ``get_settings()`` returns in this process (None: the environment's
    again), for an app built with explicit settings."""
    global _explicit
    _explicit = settings
    get_settings.cache_clear()
