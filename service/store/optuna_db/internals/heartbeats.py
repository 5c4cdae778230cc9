"""A trial's heartbeat row, written in the caller's transaction."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Connection, bindparam, func

from regtune.service.store.optuna_db.internals.handles import om
from regtune.service.store.optuna_db.running import INSERTS as DIALECTS


def record_trial_heartbeat(connection: Connection, trial_id: int) -> None:
    """Optuna's ``record_heartbeat`` (the trial's heartbeat row, at the database's clock) as one
    upsert in the caller's transaction, so a worker beats for its trial with its own beat."""
    connection.execute(_heartbeat_statement(connection.dialect.name), {"beat_id": trial_id})


@cache
def _heartbeat_statement(dialect: str) -> Any:
    table = om.TrialHeartbeatModel.__table__
    insert = DIALECTS[dialect](table).values(
        trial_id=bindparam("beat_id"), heartbeat=func.current_timestamp()
    )
    return insert.on_conflict_do_update(
        index_elements=["trial_id"], set_={"heartbeat": func.current_timestamp()}
    )
