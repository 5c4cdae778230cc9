"""What every response body shares: every field sent, times in UTC, one generic page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict


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


ItemT = TypeVar("ItemT", bound=BaseModel)


class Page(Answer, Generic[ItemT]):
    """One page of a listing: ``items`` from ``offset`` on, at most ``limit``, of ``total``."""

    items: list[ItemT]
    total: int
    offset: int
    limit: int
