"""The best trials of a study in SQL: best feasible value on objective 0, and the Pareto front."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from optuna.trial import TrialState
from sqlalchemy import select
from sqlalchemy.orm import Session

from regtune.service.store.db import among
from regtune.service.store.optuna_db.internals import is_pareto_front, om

BEST_CANDIDATES = 16
"""How many of the best trials are checked for feasibility before searching the whole study."""


def value_of(session: Session, trial_id: int) -> float | None:
    """Objective 0 of a trial, as stored (None for an infinite value or none at all)."""
    values = om.TrialValueModel.__table__
    found = session.scalar(
        select(values.c.value).where(values.c.trial_id == trial_id, values.c.objective == 0)
    )
    return None if found is None else float(found)


def infeasible() -> Any:
    """Trials whose ``objective.max_nonzero`` constraint failed (user attr ``feasible: false``)."""
    attr = om.TrialUserAttributeModel
    return (
        select(attr.trial_id)
        .where(
            attr.trial_id == om.TrialModel.trial_id,
            attr.key == "feasible",
            attr.value_json == "false",
        )
        .exists()
    )


def best_trial_number(session: Session, optuna_study_id: int, direction: str) -> int | None:
    """Number of the best feasible COMPLETE trial on objective 0.

    The best few by value are read first (a top-N sort) and checked for a failed constraint in
    one indexed lookup; only if all of them failed does the query filter every trial, because
    "not exists an infeasible mark" over the whole study costs a scan per request (20 ms at
    10,000 trials), whereas the top-N sort costs about 2 ms.
    """
    value = om.TrialValueModel.value
    order = value.desc() if direction == "maximize" else value.asc()
    query = (
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
    candidates = session.execute(query.limit(BEST_CANDIDATES)).all()
    attr = om.TrialUserAttributeModel
    marked = set(
        session.scalars(
            select(attr.trial_id).where(
                attr.trial_id.in_([trial_id for _, trial_id in candidates]),
                attr.key == "feasible",
                attr.value_json == "false",
            )
        )
    )
    for number, trial_id in candidates:
        if trial_id not in marked:
            return int(number)
    if len(candidates) < BEST_CANDIDATES:
        return None
    found = session.execute(query.where(~infeasible()).limit(1)).first()
    return None if found is None else int(found[0])


def feasible_values(session: Session, trial_ids: Sequence[int]) -> list[tuple[int, float]]:
    """(number, objective 0) of those of ``trial_ids`` that are feasible COMPLETE trials."""
    if not trial_ids:
        return []
    trials, values = om.TrialModel, om.TrialValueModel
    rows = session.execute(
        select(trials.number, values.value)
        .join(values, values.trial_id == trials.trial_id)
        .where(
            among(session, trials.trial_id, list(trial_ids)),
            trials.state == TrialState.COMPLETE,
            values.objective == 0,
            values.value.is_not(None),
            ~infeasible(),
        )
    ).all()
    return [(int(n), float(v)) for n, v in rows if not math.isnan(v)]


def pareto_numbers(session: Session, optuna_study_id: int, directions: list[str]) -> list[int]:
    """Numbers of the feasible COMPLETE trials no other such trial dominates (Optuna's rule)."""
    rows = session.execute(
        select(om.TrialModel.number, om.TrialValueModel.objective, om.TrialValueModel.value)
        .join(om.TrialValueModel, om.TrialValueModel.trial_id == om.TrialModel.trial_id)
        .where(
            om.TrialModel.study_id == optuna_study_id,
            om.TrialModel.state == TrialState.COMPLETE,
            ~infeasible(),
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
