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
from typing import Any

from optuna.distributions import BaseDistribution, distribution_to_json
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import Connection, update
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
    on_end: Callable[[Connection, TrialState], None] | None = None
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
    trial = tables.TrialModel.__table__
    moved: dict[str, Any] = {"state": trial.c.state}
    if state is not None:
        stamp = (completed or datetime.now()).astimezone(UTC).replace(tzinfo=None)
        moved = {"state": state, "datetime_complete": stamp}
    claimed = connection.execute(
        update(trial)
        .where(trial.c.trial_id == trial_id, trial.c.state.in_(UPDATABLE))
        .values(**moved)
    )
    if rowcount(claimed) != 1:
        return False
    insert = INSERTS[connection.dialect.name]
    if running.params:
        rows = [dict(trial_id=trial_id, **row) for row in running.params]
        connection.execute(insert(tables.TrialParamModel.__table__).values(rows))
    if values:
        model = tables.TrialValueModel
        rows = []
        for objective, value in enumerate(values):
            stored, kind = model.value_to_stored_repr(value)
            rows.append(dict(trial_id=trial_id, objective=objective, value=stored, value_type=kind))
        _upsert(connection, insert, model.__table__, ("trial_id", "objective"), rows)
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
        _upsert(connection, insert, model.__table__, ("trial_id", "step"), rows)
    for attrs, model in (
        (running.user_attrs, tables.TrialUserAttributeModel),
        (running.system_attrs, tables.TrialSystemAttributeModel),
    ):
        if attrs:
            rows = [
                dict(trial_id=trial_id, key=key, value_json=json.dumps(value))
                for key, value in attrs.items()
            ]
            _upsert(connection, insert, model.__table__, ("trial_id", "key"), rows)
    if state is not None and running.on_end is not None:
        running.on_end(connection, state)
    return True


def _upsert(
    connection: Connection,
    insert: Any,
    table: Any,
    key: tuple[str, ...],
    rows: list[dict[str, Any]],
) -> None:
    """One multi-row INSERT … ON CONFLICT (key) DO UPDATE of ``rows``."""
    statement = insert(table).values(rows)
    changed = {c: statement.excluded[c] for c in rows[0] if c not in key}
    connection.execute(statement.on_conflict_do_update(index_elements=list(key), set_=changed))
