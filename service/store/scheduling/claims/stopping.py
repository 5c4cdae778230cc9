"""A study's stop rule (``budget.stop``) kept on its row: the best value, when it last improved,
and the rule that stopped the study, moved in the transaction that counts each finished trial.

Only a study with a rule pays for it (a read of its row and an UPDATE per finish); the row is
the serialization point of finishes already (PostgreSQL locks it, SQLite's write transaction
holds the file), so finishes that race are counted one after the other, in ``n_done`` order.
Once ``stopped_by`` is set no claim takes a slot (``counts.has_room``) and ``settle`` completes
the study when nothing runs: what a passed deadline does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from optuna.trial import TrialState
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from regtune.service.spec.objective import STORED, Objective, better
from regtune.service.spec.policies import StopRule
from regtune.service.store.optuna_db.attrs import DIVERGED_ATTR, FEASIBLE_ATTR
from regtune.service.store.tables import StudyRow

StoppedBy = Literal["value", "patience"]


@dataclass(frozen=True)
class Rule:
    """A study's ``budget.stop`` with the direction of its objective."""

    stop: StopRule
    maximize: bool

    @classmethod
    def of(cls, definition: Mapping[str, Any]) -> Rule | None:
        """The rule of a stored definition, or None if it has none (a dict lookup)."""
        stop = definition.get("budget", {}).get("stop")
        if not stop:
            return None
        objective = Objective.model_validate(definition["objective"], context={STORED: True})
        return cls(StopRule.model_validate(stop), maximize=objective.direction == "maximize")

    def better(self, value: float, than: float, *, by: float = 0.0) -> bool:
        """``value`` improves on ``than`` by more than ``by`` (early stopping's rule)."""
        return better(
            value, than, direction="maximize" if self.maximize else "minimize", min_delta=by
        )

    def reached(self, value: float) -> bool:
        goal = self.stop.value
        return goal is not None and (value >= goal if self.maximize else value <= goal)


@dataclass(frozen=True)
class Finished:
    """A trial whose finish is counted: its state, objective value and number."""

    state: TrialState
    value: float | None
    number: int
    choosable: bool = True
    """Not marked infeasible or diverged: it may be the study's best."""

    @classmethod
    def of(
        cls,
        state: TrialState,
        values: Sequence[float] | None,
        number: int,
        user_attrs: Mapping[str, Any],
    ) -> Finished:
        marked = user_attrs.get(DIVERGED_ATTR) is True or user_attrs.get(FEASIBLE_ATTR) is False
        return cls(state, values[0] if values else None, number, choosable=not marked)

    @property
    def candidate(self) -> float | None:
        """The value that may be the study's best: a choosable COMPLETE trial's finite one."""
        if self.state != TrialState.COMPLETE or not self.choosable or self.value is None:
            return None
        return self.value if math.isfinite(self.value) else None


@dataclass(frozen=True)
class Progress:
    """The rule's columns of the study row."""

    best_value: float | None
    best_trial: int | None
    best_at: int
    stopped_by: str | None


def advance(progress: Progress, rule: Rule, finished: Sequence[Finished], *, done: int) -> Progress:
    """``progress`` after ``finished`` (in the order they were counted), the last of which made
    ``n_done`` ``done``. The best value keeps improving after a stop (the trials that were
    running finish and count); the rule that stopped the study stays."""
    first = done - len(finished)
    for n, trial in enumerate(finished, start=first + 1):
        value, best = trial.candidate, progress.best_value
        if value is not None and (best is None or rule.better(value, best)):
            significant = best is None or rule.better(value, best, by=rule.stop.min_delta)
            progress = replace(
                progress,
                best_value=value,
                best_trial=trial.number,
                best_at=n if significant else progress.best_at,
            )
        if progress.stopped_by is None:
            progress = replace(progress, stopped_by=_stopped_by(progress, rule, done=n))
    return progress


def _stopped_by(progress: Progress, rule: Rule, *, done: int) -> StoppedBy | None:
    if progress.best_value is not None and rule.reached(progress.best_value):
        return "value"
    patience = rule.stop.patience
    if patience is not None and done - progress.best_at >= patience:
        return "patience"
    return None


def record(session: Session, *, study_id: str, rule: Rule, finished: Sequence[Finished]) -> None:
    """Move the study's rule columns by ``finished``, the last trials counted in ``n_done`` by
    this transaction (which already wrote the row, so holds it)."""
    if not finished:
        return
    row = session.execute(
        select(
            StudyRow.n_done,
            StudyRow.best_value,
            StudyRow.best_trial,
            StudyRow.best_at,
            StudyRow.stopped_by,
        )
        .where(StudyRow.id == study_id)
        .with_for_update()
    ).one_or_none()
    if row is None:
        return
    before = Progress(row.best_value, row.best_trial, row.best_at, row.stopped_by)
    after = advance(before, rule, finished, done=row.n_done)
    if after != before:
        session.execute(
            update(StudyRow)
            .where(StudyRow.id == study_id)
            .values(
                best_value=after.best_value,
                best_trial=after.best_trial,
                best_at=after.best_at,
                stopped_by=after.stopped_by,
            )
            .execution_options(synchronize_session=False)
        )
