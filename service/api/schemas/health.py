"""The answer of the liveness and readiness probes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from regtune.service.api.schemas.answer import Answer


class Health(Answer):
    status: Literal["ok", "unavailable"]
    database: Literal["up", "down"] | None = Field(
        default=None, description="null from /healthz, which does not ask the database"
    )
    detail: str | None = Field(default=None, description="why the database is down")
