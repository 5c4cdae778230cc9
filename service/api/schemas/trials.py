"""A trial as the API answers it, one or a page of them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from regtune.service.api.schemas.answer import Answer, Page, UtcDateTime

TrialState = Literal["RUNNING", "COMPLETE", "PRUNED", "FAIL", "WAITING"]
"""Optuna's trial states, by its names."""


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
