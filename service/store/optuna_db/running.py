"""A trial this process runs: what it wrote, kept in memory, and its reports written in batches.

Optuna writes every report and user attribute of a trial as a transaction of its own and reads
the whole trial back (six queries) to build a ``Trial`` and before every pruning decision. A
trial runs in exactly one process, so that process knows the trial better than the database
does: it keeps the trial as it wrote it (``RunningTrial.trial``, what the pruner reads: the
trial's own reports count at once) and writes the reports and attributes not yet stored
(``RunningTrial.reports``, ``.user_attrs``, ``.system_attrs``) at most once every
``FLUSH_SECONDS`` and with the trial's final state, all in one transaction (``write``); the
parameters one suggestion round asks for are written together (``.params``).

What decides who may write is the trial's row: ``write`` first moves it with a conditional
UPDATE (to the final state, or onto itself) that only a RUNNING or WAITING trial matches, so
rows are written only while the trial is running (as Optuna checks), and on PostgreSQL the
row stays locked until the batch commits, so no sweep fails the trial half-way through one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from optuna.distributions import BaseDistribution, distribution_to_json
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import Connection, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite

from regtune.service.store.db import rowcount

FLUSH_SECONDS = 1.0
"""Reports reach the database (and optuna-dashboard's learning curves) at most this late."""
UPDATABLE = (TrialState.RUNNING, TrialState.WAITING)
INSERTS: dict[str, Any] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
"""The dialects with ``INSERT … ON CONFLICT``: regtune's two databases."""


@dataclass
class RunningTrial:
    """A RUNNING trial of this process: the trial as written so far, and what is not stored yet."""

    trial: FrozenTrial
    reports: dict[int, float] = field(default_factory=dict)
    user_attrs: dict[str, Any] = field(default_factory=dict)
    system_attrs: dict[str, Any] = field(default_factory=dict)
    params: list[dict[str, Any]] = field(default_factory=list)
    """Parameter rows suggested inside ``RunningTrialWrites.params_together``, not yet stored."""
    flushed_at: float = field(default_factory=time.monotonic)
    """``time.monotonic()`` of the last write (of the trial's creation, before the first)."""
    together: bool = False
    """Inside ``params_together``: parameters wait to be written in one statement."""
    on_end: Callable[[Connection, TrialState, list[float] | None], None] | None = None
    """Run in the transaction that ends the trial (``RunningTrialWrites.when_ended``)."""

    def report(self, step: int, value: float) -> None:
        self.reports[step] = value
        self.trial.intermediate_values[step] = value

    def set_user_attr(self, key: str, value: Any) -> None:
        json.dumps(value)  # what cannot be stored fails here, at the call, as in Optuna
        self.user_attrs[key] = value
        self.trial.user_attrs[key] = value

    def set_system_attr(self, key: str, value: Any) -> None:
        json.dumps(value)
        self.system_attrs[key] = value
        self.trial.system_attrs[key] = value

    def set_param(self, name: str, internal: float, distribution: BaseDistribution) -> None:
        self.params.append(
            dict(
                param_name=name,
                param_value=internal,
                distribution_json=distribution_to_json(distribution),
            )
        )
        self.trial.params[name] = distribution.to_external_repr(internal)
        self.trial.distributions[name] = distribution

    def due(self, now: float) -> bool:
        pending = self.reports or self.user_attrs or self.system_attrs
        return bool(pending) and now - self.flushed_at >= FLUSH_SECONDS

    def written(self, now: float) -> None:
        self.reports.clear()
        self.user_attrs.clear()
        self.system_attrs.clear()
        self.params.clear()
        self.flushed_at = now

    def finished(self, state: TrialState, values: list[float] | None, at: datetime) -> None:
        self.trial.state = state
        self.trial.values = values
        self.trial.datetime_complete = at


@cache
def _moves(trials: Any) -> tuple[Any, Any]:
    """The conditional UPDATEs that open a batch: the row onto itself, or to its final state."""
    match = (trials.c.trial_id == bindparam("match_id"), trials.c.state.in_(UPDATABLE))
    return (
        update(trials).where(*match).values(state=trials.c.state),
        update(trials)
        .where(*match)
        .values(
            state=bindparam("final_state", type_=trials.c.state.type),
            datetime_complete=bindparam("completed", type_=trials.c.datetime_complete.type),
        ),
    )


@cache
def rows_statement(dialect: str, table: Any, key: tuple[str, ...], columns: tuple[str, ...]) -> Any:
    """``INSERT`` of ``columns`` (``ON CONFLICT (key) DO UPDATE`` unless ``key`` is empty),
    built once per process: executed with a list of rows, SQLAlchemy sends it as one multi-row
    statement ("insertmanyvalues", which ``RETURNING`` turns on for every driver) from a
    statement it compiled once, where a ``values(rows)`` statement is compiled every time."""
    statement = INSERTS[dialect](table)
    if key:
        statement = statement.on_conflict_do_update(
            index_elements=list(key),
            set_={c: statement.excluded[c] for c in columns if c not in key},
        )
    return statement.returning(table.c.trial_id)


def insert_rows(
    connection: Connection, table: Any, key: tuple[str, ...], rows: list[dict[str, Any]]
) -> None:
    """``rows`` (all with the same columns) inserted, or upserted on ``key``, in one statement."""
    statement = rows_statement(connection.dialect.name, table, key, tuple(rows[0]))
    connection.execute(statement, rows).close()


def write(
    connection: Connection,
    tables: Any,
    trial_id: int,
    running: RunningTrial,
    *,
    state: TrialState | None = None,
    values: list[float] | None = None,
    completed: datetime | None = None,
) -> bool:
    """Write ``running``'s pending rows, and the final ``state`` and ``values`` if given, in the
    caller's transaction; False (nothing written) if the trial is finished or gone.

    ``tables`` is Optuna's models module; ``completed`` is local time, as Optuna's trials carry.
    """
    onto_itself, to_final = _moves(tables.TrialModel.__table__)
    if state is None:
        claimed = connection.execute(onto_itself, {"match_id": trial_id})
    else:
        stamp = (completed or datetime.now()).astimezone(UTC).replace(tzinfo=None)
        claimed = connection.execute(
            to_final, {"match_id": trial_id, "final_state": state, "completed": stamp}
        )
    if rowcount(claimed) != 1:
        return False
    if running.params:
        rows = [dict(trial_id=trial_id, **row) for row in running.params]
        insert_rows(connection, tables.TrialParamModel.__table__, (), rows)
    if values:
        model = tables.TrialValueModel
        rows = []
        for objective, value in enumerate(values):
            stored, kind = model.value_to_stored_repr(value)
            rows.append(dict(trial_id=trial_id, objective=objective, value=stored, value_type=kind))
        insert_rows(connection, model.__table__, ("trial_id", "objective"), rows)
    if running.reports:
        model = tables.TrialIntermediateValueModel
        rows = []
        for step, value in sorted(running.reports.items()):
            stored, kind = model.intermediate_value_to_stored_repr(value)
            rows.append(
                dict(
                    trial_id=trial_id,
                    step=step,
                    intermediate_value=stored,
                    intermediate_value_type=kind,
                )
            )
        insert_rows(connection, model.__table__, ("trial_id", "step"), rows)
    for attrs, model in (
        (running.user_attrs, tables.TrialUserAttributeModel),
        (running.system_attrs, tables.TrialSystemAttributeModel),
    ):
        if attrs:
            rows = [
                dict(trial_id=trial_id, key=key, value_json=json.dumps(value))
                for key, value in attrs.items()
            ]
            insert_rows(connection, model.__table__, ("trial_id", "key"), rows)
    if state is not None and running.on_end is not None:
        running.on_end(connection, state, values)
    return True
