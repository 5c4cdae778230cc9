"""A claimed slot: what a worker holds (``Claim``) and the row that is still its claim
(``held``), the worker id of a slot left to the sweep, and the key that links a λ path's trial to
each of its slots."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement

from regtune.service.store.optuna_db.attrs import PATH_CLAIM_PREFIX
from regtune.service.store.tables import ClaimRow

SWEPT = "(sweep)"
"""The worker id of a slot left to the sweep (a worker id that never heartbeats)."""


@dataclass(frozen=True)
class Claim:
    """A slot taken in a study, with what the worker needs to run it (no second read)."""

    id: int
    study_id: str
    seq: int
    optuna_name: str
    definition: dict[str, Any]
    """The validated definition the API stored; the worker never re-validates it."""
    waiting: bool = True
    """Whether the study had WAITING trials (retries, enqueued trials) when the slot was taken:
    if not, the worker's ask need not look for one (``WorkerHeartbeats.claimed``)."""


def held(claim_id: Any, *, study_id: Any, seq: Any) -> tuple[ColumnElement[bool], ...]:
    """Whether a claim row is still the claim taken as ``claim_id`` of ``study_id`` with ``seq``
    (values, or bound parameters): SQLite gives a released claim's id to the next claim taken,
    so a worker silent past its grace period, whose claim the sweep released, may find its id
    another worker's; the study's ``seq`` (its count of claims) tells them apart."""
    return ClaimRow.id == claim_id, ClaimRow.study_id == study_id, ClaimRow.seq == seq


def path_claim_key(claim_id: int) -> str:
    return f"{PATH_CLAIM_PREFIX}{claim_id}"
