"""Which trials can be chosen (feasible, not diverged), the best value among them, the front."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.trial import TrialState
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from regtune.service.store.db import among
from regtune.service.store.optuna_db.attrs import DIVERGED_ATTR, FEASIBLE_ATTR
from regtune.service.store.optuna_db.internals.handles import om
from regtune.service.store.optuna_db.internals.pareto import is_pareto_front

BEST_CANDIDATES = 16
"""How many of the best trials are checked for feasibility before searching the whole study."""


def value_of(session: Session, trial_id: int) -> float | None:
    """Objective 0 of a trial, as stored (None for an infinite value or none at all)."""
    values = om.TrialValueModel.__table__
    found = session.scalar(
        select(values.c.value).where(values.c.trial_id == trial_id, values.c.objective == 0)
    )
    return None if found is None else float(found)


def _infeasible_mark() -> Any:
    """A failed ``objective.max_nonzero`` constraint: user attr ``feasible: false``."""
    attr = om.TrialUserAttributeModel
    return and_(attr.key == FEASIBLE_ATTR, attr.value_json == "false")


def _diverged_mark() -> Any:
    """A diverged training: user attr ``diverged: true``. Its value is ±inf since it was
    recorded so, but a trial stored before kept the finite value of the epoch early stopping
    restored."""
    attr = om.TrialUserAttributeModel
    return and_(attr.key == DIVERGED_ATTR, attr.value_json == "true")


def _marks() -> Any:
    """The user attributes that keep a trial from being chosen."""
    return or_(_infeasible_mark(), _diverged_mark())


def _marked(mark: Any) -> Any:
    """The trial (``om.TrialModel``) has a user attribute that is ``mark``."""
    attr = om.TrialUserAttributeModel
    return select(attr.trial_id).where(attr.trial_id == om.TrialModel.trial_id, mark).exists()


def never_chosen() -> Any:
    """Trials never chosen: ``objective.max_nonzero`` failed, or marked diverged."""
    return _marked(_marks())


def by_value(optuna_study_id: int, direction: str) -> Any:
    """(number, trial id) of the study's COMPLETE trials, best objective 0 first."""
    value = om.TrialValueModel.value
    order = value.desc() if direction == "maximize" else value.asc()
    return (
        select(om.TrialModel.number, om.TrialModel.trial_id)
        .join(om.TrialValueModel, om.TrialValueModel.trial_id == om.TrialModel.trial_id)
        .where(
            om.TrialModel.study_id == optuna_study_id,
            om.TrialModel.state == TrialState.COMPLETE,
            om.TrialValueModel.objective == 0,
            om.TrialValueModel.value.is_not(None),
        )
        .order_by(order, om.TrialModel.number)
    )


NAMED_DIVERGED = 5
"""How many skipped diverged trials a note names (the best first); it counts the others."""


@dataclass(frozen=True)
class BestChoice:
    """The best feasible COMPLETE trial on objective 0, and the trials marked diverged that a
    better stored value would have put before it (``diverged``: their numbers, best first)."""

    number: int | None
    diverged: tuple[int, ...] = ()

    @property
    def note(self) -> str | None:
        """Why a trial with a better value is not the best (None: none was skipped)."""
        if not self.diverged:
            return None
        numbers = ", ".join(f"#{n}" for n in self.diverged[:NAMED_DIVERGED])
        if len(self.diverged) > NAMED_DIVERGED:
            numbers += f" and {len(self.diverged) - NAMED_DIVERGED} more"
        which = "trial" if len(self.diverged) == 1 else "trials"
        return (
            f"{which} {numbers} diverged (user attribute diverged: true) but kept a finite value, "
            "as trials stored before a diverged trial's value was ±inf did: never chosen"
        )


def best_trial_number(
    session: Session,
    optuna_study_id: int,
    direction: str,
    *,
    best: Sequence[tuple[int, int]] | None = None,
    limit: int = BEST_CANDIDATES,
) -> int | None:
    """Number of the best feasible COMPLETE trial on objective 0 (``best_choice``'s)."""
    return best_choice(session, optuna_study_id, direction, best=best, limit=limit).number


def best_choice(
    session: Session,
    optuna_study_id: int,
    direction: str,
    *,
    best: Sequence[tuple[int, int]] | None = None,
    limit: int = BEST_CANDIDATES,
) -> BestChoice:
    """The best feasible COMPLETE trial on objective 0 that did not diverge.

    The best few by value are read first (a top-N sort) and checked for a failed constraint or
    a diverged mark in one indexed lookup; only if all of them are marked does the query filter
    every trial, because "not exists a mark" over the whole study costs a scan per request (20
    ms at 10,000 trials), whereas the top-N sort costs about 2 ms. ``best``: the first
    ``limit`` rows of ``by_value``, when the caller has read them already.
    """
    query = by_value(optuna_study_id, direction)
    candidates = list(best) if best is not None else session.execute(query.limit(limit)).all()
    attr = om.TrialUserAttributeModel
    marks: dict[int, set[str]] = {}
    for trial_id, key in session.execute(
        select(attr.trial_id, attr.key).where(
            attr.trial_id.in_([trial_id for _, trial_id in candidates]), _marks()
        )
    ):
        marks.setdefault(trial_id, set()).add(key)
    # a trial marked both ways is skipped as infeasible: only a diverged mark alone is noted
    diverged: list[int] = []
    for number, trial_id in candidates:
        if trial_id not in marks:
            return BestChoice(int(number), tuple(diverged))
        if marks[trial_id] == {DIVERGED_ATTR}:
            diverged.append(int(number))
    if len(candidates) < limit:
        return BestChoice(None, tuple(diverged))
    found = session.execute(query.where(~never_chosen()).limit(1)).first()
    return BestChoice(None if found is None else int(found[0]), tuple(diverged))


def feasible_values(session: Session, trial_ids: Sequence[int]) -> list[tuple[int, float, bool]]:
    """(number, objective 0, marked diverged) of those of ``trial_ids`` that are feasible
    COMPLETE trials (one marked diverged is never chosen, and named if its value is better)."""
    if not trial_ids:
        return []
    trials, values = om.TrialModel, om.TrialValueModel
    rows = session.execute(
        select(trials.number, values.value, _marked(_diverged_mark()))
        .join(values, values.trial_id == trials.trial_id)
        .where(
            among(session, trials.trial_id, list(trial_ids)),
            trials.state == TrialState.COMPLETE,
            values.objective == 0,
            values.value.is_not(None),
            ~_marked(_infeasible_mark()),
        )
    ).all()
    return [(int(n), float(v), bool(d)) for n, v, d in rows if not math.isnan(v)]


def pareto_numbers(session: Session, optuna_study_id: int, directions: list[str]) -> list[int]:
    """Numbers of the feasible COMPLETE trials not marked diverged that no other such trial
    dominates (Optuna's rule)."""
    rows = session.execute(
        select(om.TrialModel.number, om.TrialValueModel.objective, om.TrialValueModel.value)
        .join(om.TrialValueModel, om.TrialValueModel.trial_id == om.TrialModel.trial_id)
        .where(
            om.TrialModel.study_id == optuna_study_id,
            om.TrialModel.state == TrialState.COMPLETE,
            ~never_chosen(),
        )
    ).all()
    signs = [-1.0 if d == "maximize" else 1.0 for d in directions]
    points: dict[int, list[float]] = {}
    for number, objective, value in rows:
        point = points.setdefault(number, [math.inf] * len(signs))
        if objective < len(signs) and value is not None:
            point[objective] = signs[objective] * value
    if not points:
        return []
    numbers = sorted(points)
    on_front = is_pareto_front(np.array([points[n] for n in numbers]))
    return [n for n, keep in zip(numbers, on_front, strict=True) if keep]


def with_param(optuna_study_id: int, name: str) -> Any:
    """(number, value on objective 0, param ``name`` as stored, its distribution) of the
    study's feasible COMPLETE trials that have that param."""
    trials, values, params = om.TrialModel, om.TrialValueModel, om.TrialParamModel
    return (
        select(trials.number, values.value, params.param_value, params.distribution_json)
        .join(values, values.trial_id == trials.trial_id)
        .join(params, (params.trial_id == trials.trial_id) & (params.param_name == name))
        .where(
            trials.study_id == optuna_study_id,
            trials.state == TrialState.COMPLETE,
            values.objective == 0,
            ~never_chosen(),
        )
    )
