"""Reading trials straight from Optuna's tables: paginated and counted in SQL.

Optuna's own ``get_all_trials`` loads every trial of a study; a page of 50 out of 10,000 must
not. The table models are Optuna's, so what is read here is exactly what the dashboard reads.
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np
from optuna.distributions import json_to_distribution
from optuna.trial import TrialState
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.store.optuna_internals import is_pareto_front, om

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


@lru_cache(maxsize=1024)
def _distribution(distribution_json: str) -> Any:
    """A study's parameters share a handful of distributions; parse each JSON text once."""
    return json_to_distribution(distribution_json)


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
    """A page of trials in number order: one query for the page, one per attribute table.

    Columns are read as plain rows, not ORM objects: building Optuna's models for 50 trials and
    their several hundred attribute rows cost more than the queries themselves.
    """
    trial = om.TrialModel.__table__
    query = select(
        trial.c.trial_id,
        trial.c.number,
        trial.c.state,
        trial.c.datetime_start,
        trial.c.datetime_complete,
    ).where(trial.c.study_id == optuna_study_id)
    if state is not None:
        query = query.where(trial.c.state == TrialState[state])
    if numbers is not None:
        query = query.where(trial.c.number.in_(numbers))
    query = query.order_by(trial.c.number).offset(offset).limit(limit)
    views: dict[int, TrialView] = {
        trial_id: TrialView(
            number=number,
            state=trial_state.name,
            values=None,
            params={},
            user_attrs={},
            datetime_start=start,
            datetime_complete=complete,
        )
        for trial_id, number, trial_state, start, complete in session.execute(query)
    }
    if not views:
        return []
    ids = list(views)

    def rows(model: Any, *columns: str) -> Any:
        table = model.__table__
        return session.execute(
            select(table.c.trial_id, *(table.c[c] for c in columns)).where(
                table.c.trial_id.in_(ids)
            )
        )

    for trial_id, name, value, dist in rows(
        om.TrialParamModel, "param_name", "param_value", "distribution_json"
    ):
        views[trial_id].params[name] = _distribution(dist).to_external_repr(value)
    values: dict[int, dict[int, float | None]] = {}
    for trial_id, objective, value, kind in rows(
        om.TrialValueModel, "objective", "value", "value_type"
    ):
        values.setdefault(trial_id, {})[objective] = _float(value, kind)
    for trial_id, by_objective in values.items():
        views[trial_id].values = [by_objective[k] for k in sorted(by_objective)]
    for trial_id, key, value_json in rows(om.TrialUserAttributeModel, "key", "value_json"):
        views[trial_id].user_attrs[key] = json.loads(value_json)
    if with_curves:
        curve = rows(
            om.TrialIntermediateValueModel, "step", "intermediate_value", "intermediate_value_type"
        )
        for trial_id, step, value, kind in sorted(curve, key=lambda r: r[1]):
            views[trial_id].intermediate_values[step] = _float(value, kind)
        for trial_id, key, value_json in rows(om.TrialSystemAttributeModel, "key", "value_json"):
            views[trial_id].system_attrs[key] = json.loads(value_json)
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


BEST_CANDIDATES = 16
"""How many of the best trials are checked for feasibility before searching the whole study."""


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
    infeasible = set(
        session.scalars(
            select(attr.trial_id).where(
                attr.trial_id.in_([trial_id for _, trial_id in candidates]),
                attr.key == "feasible",
                attr.value_json == "false",
            )
        )
    )
    for number, trial_id in candidates:
        if trial_id not in infeasible:
            return int(number)
    if len(candidates) < BEST_CANDIDATES:
        return None
    found = session.execute(query.where(~_infeasible()).limit(1)).first()
    return None if found is None else int(found[0])


_BEST: OrderedDict[tuple[Any, ...], TrialView | None] = OrderedDict()
_BEST_LOCK = threading.Lock()
BEST_CACHE_SIZE = 256


def best_trial(
    session: Session, optuna_study_id: int, direction: str, *, n_complete: int, key: str
) -> TrialView | None:
    """The best feasible COMPLETE trial with its curve, remembered per count of COMPLETE trials.

    Optuna refuses any change to a finished trial and a COMPLETE trial stays COMPLETE, so while
    a study has the same number of COMPLETE trials it has the same ones and the same best: only
    a newly completed trial makes this process look again. ``key`` (regtune's study id) keeps a
    reused Optuna study id from meeting an old entry. Callers must not modify the view.
    """
    cache_key = (key, optuna_study_id, direction, n_complete)
    with _BEST_LOCK:
        if cache_key in _BEST:
            _BEST.move_to_end(cache_key)
            return _BEST[cache_key]
    number = best_trial_number(session, optuna_study_id, direction)
    best = None if number is None else get_trial(session, optuna_study_id, number)
    with _BEST_LOCK:
        _BEST[cache_key] = best
        while len(_BEST) > BEST_CACHE_SIZE:
            _BEST.popitem(last=False)
    return best


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
    on_front = is_pareto_front(np.array([points[n] for n in numbers]))
    return [n for n, keep in zip(numbers, on_front, strict=True) if keep]


def get_trial(session: Session, optuna_study_id: int, number: int) -> TrialView | None:
    found = list_trials(session, optuna_study_id, numbers=[number], limit=1, with_curves=True)
    return found[0] if found else None
