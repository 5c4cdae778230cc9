"""A live worker as ``GET /v1/workers`` answers it, and whom that listing covers."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from regtune.service.api.schemas.answer import Answer, UtcDateTime

WORKERS_SCOPE_HEADER = "X-Regtune-Workers"
"""Whom ``GET /v1/workers`` lists: ``pool`` (every worker) or ``tenant`` (those at work on the
key's tenant's studies)."""

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
