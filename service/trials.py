"""Reading trials straight from Optuna's tables: paginated and counted in SQL.

Optuna's own ``get_all_trials`` loads every trial of a study; a page of 50 out of 10,000 must
not. The table models are Optuna's, so what is read here is exactly what the dashboard reads.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from optuna.distributions import json_to_distribution
from optuna.storages._rdb import models as _optuna_models
from optuna.study._multi_objective import _is_pareto_front
from optuna.trial import TrialState
from sqlalchemy import func, select
from sqlalchemy.orm import Session

om: Any = _optuna_models  # Optuna's SQLAlchemy models are untyped

STATES = [s.name for s in TrialState]


@dataclass
class TrialView:
    number: int
    state: str
    values: list[float | None] | None
    params: dict[str, Any]
    user_attrs: dict[str, Any]
    datetime_start: datetime | None
    datetime_complete: datetime | None
    intermediate_values: dict[int, float | None] = field(default_factory=dict)
    system_attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def value(self) -> float | None:
        return self.values[0] if self.values else None


def _float(value: float | None, kind: Any) -> float | None:
    name = getattr(kind, "name", "FINITE")
    if name == "INF_POS":
        return math.inf
    if name == "INF_NEG":
        return -math.inf
    if name == "NAN":
        return math.nan
    return value


def counts_by_state(session: Session, optuna_study_id: int) -> dict[str, int]:
    rows = session.execute(
        select(om.TrialModel.state, func.count())
        .where(om.TrialModel.study_id == optuna_study_id)
        .group_by(om.TrialModel.state)
    ).all()
    counts = dict.fromkeys(STATES, 0)
    for state, count in rows:
        counts[state.name] = int(count)
    return counts


def count_trials(session: Session, optuna_study_id: int, state: str | None = None) -> int:
    query = select(func.count()).where(om.TrialModel.study_id == optuna_study_id)
    if state is not None:
        query = query.where(om.TrialModel.state == TrialState[state])
    return int(session.scalar(query) or 0)


def list_trials(
    session: Session,
    optuna_study_id: int,
    *,
    state: str | None = None,
    offset: int = 0,
    limit: int = 50,
    numbers: list[int] | None = None,
    with_curves: bool = False,
) -> list[TrialView]:
    query = select(om.TrialModel).where(om.TrialModel.study_id == optuna_study_id)
    if state is not None:
        query = query.where(om.TrialModel.state == TrialState[state])
    if numbers is not None:
        query = query.where(om.TrialModel.number.in_(numbers))
    query = query.order_by(om.TrialModel.number).offset(offset).limit(limit)
    trials: list[Any] = list(session.scalars(query))
    if not trials:
        return []
    ids = [t.trial_id for t in trials]
    views: dict[int, TrialView] = {
        t.trial_id: TrialView(
            number=t.number,
            state=t.state.name,
            values=None,
            params={},
            user_attrs={},
            datetime_start=t._datetime_start_utc,
            datetime_complete=t._datetime_complete_utc,
        )
        for t in trials
    }
    for p in session.scalars(
        select(om.TrialParamModel).where(om.TrialParamModel.trial_id.in_(ids))
    ):
        dist = json_to_distribution(p.distribution_json)
        views[p.trial_id].params[p.param_name] = dist.to_external_repr(p.param_value)
    values: dict[int, dict[int, float | None]] = {}
    for v in session.scalars(
        select(om.TrialValueModel).where(om.TrialValueModel.trial_id.in_(ids))
    ):
        values.setdefault(v.trial_id, {})[v.objective] = _float(v.value, v.value_type)
    for trial_id, by_objective in values.items():
        views[trial_id].values = [by_objective[k] for k in sorted(by_objective)]
    for a in session.scalars(
        select(om.TrialUserAttributeModel).where(om.TrialUserAttributeModel.trial_id.in_(ids))
    ):
        views[a.trial_id].user_attrs[a.key] = json.loads(a.value_json)
    if with_curves:
        for iv in session.scalars(
            select(om.TrialIntermediateValueModel)
            .where(om.TrialIntermediateValueModel.trial_id.in_(ids))
            .order_by(om.TrialIntermediateValueModel.step)
        ):
            views[iv.trial_id].intermediate_values[iv.step] = _float(
                iv.intermediate_value, iv.intermediate_value_type
            )
        for s in session.scalars(
            select(om.TrialSystemAttributeModel).where(
                om.TrialSystemAttributeModel.trial_id.in_(ids)
            )
        ):
            views[s.trial_id].system_attrs[s.key] = json.loads(s.value_json)
    return [views[i] for i in ids]


def _infeasible() -> Any:
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
    """Number of the best feasible COMPLETE trial on objective 0, found with one indexed query."""
    value = om.TrialValueModel.value
    order = value.desc() if direction == "maximize" else value.asc()
    query = (
        select(om.TrialModel.number)
        .join(om.TrialValueModel, om.TrialValueModel.trial_id == om.TrialModel.trial_id)
        .where(
            om.TrialModel.study_id == optuna_study_id,
            om.TrialModel.state == TrialState.COMPLETE,
            om.TrialValueModel.objective == 0,
            om.TrialValueModel.value.is_not(None),
            ~_infeasible(),
        )
        .order_by(order, om.TrialModel.number)
        .limit(1)
    )
    return session.scalar(query)


def pareto_numbers(session: Session, optuna_study_id: int, directions: list[str]) -> list[int]:
    """Numbers of the feasible COMPLETE trials no other such trial dominates (Optuna's rule)."""
    rows = session.execute(
        select(om.TrialModel.number, om.TrialValueModel.objective, om.TrialValueModel.value)
        .join(om.TrialValueModel, om.TrialValueModel.trial_id == om.TrialModel.trial_id)
        .where(
            om.TrialModel.study_id == optuna_study_id,
            om.TrialModel.state == TrialState.COMPLETE,
            ~_infeasible(),
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
    on_front = _is_pareto_front(np.array([points[n] for n in numbers]), False)
    return [n for n, keep in zip(numbers, on_front, strict=True) if keep]


def get_trial(session: Session, optuna_study_id: int, number: int) -> TrialView | None:
    found = list_trials(session, optuna_study_id, numbers=[number], limit=1, with_curves=True)
    return found[0] if found else None
