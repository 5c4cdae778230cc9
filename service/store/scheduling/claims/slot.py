"""A claimed slot: what a worker holds (``Claim``), the worker id of a slot left to the sweep,
and the key that links a λ path's trial to each of its slots."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from regtune.service.store.optuna_db.attrs import PATH_CLAIM_PREFIX

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


def path_claim_key(claim_id: int) -> str:
    return f"{PATH_CLAIM_PREFIX}{claim_id}"
