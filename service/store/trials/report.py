"""What the study report draws, read in SQL: counts, samples and aggregates, never every trial.

A report of a 100,000-trial study must be built in well under a second and ship a few thousand
points, so every read here is a count, a ``GROUP BY`` or an evenly spaced sample (every k-th
trial number) capped at ``max_points``, plus the best trials so that the optimum is always drawn.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from optuna.trial import TrialState
from sqlalchemy import Float, and_, cast, func, select
from sqlalchemy.orm import Session, aliased

from regtune.service.store.db import among
from regtune.service.store.optuna_db.internals import om
from regtune.service.store.trials.best import best_trial_number

BEST_KEPT = 50
"""Best trials added to every sample, so that the optimum and its neighbours are drawn."""
FOLDS_ATTR = "fold_values"
"""Trial user attribute: the objective metric of each fold's model (k-fold validation only)."""
MAX_PARAMS = 12
"""Parameters read per sampled trial (one indexed join each)."""
CURVES = 15
"""Learning curves drawn per state (COMPLETE, PRUNED)."""


@dataclass
class Point:
    """One COMPLETE trial as the report draws it."""

    number: int
    value: float
    params: dict[str, float]
    """Optuna's internal representation (a choice's index for a categorical parameter)."""
    n_nonzero: float | None
    fold_se: float | None = None
    """Standard error of the objective across the trial's folds (with several folds)."""


@dataclass
class ReportData:
    counts: dict[str, int]
    points: list[Point]
    """A sample of COMPLETE trials (objective 0 finite), with the best ones."""
    band: list[Point]
    """A sample of COMPLETE trials whose l1_ratio lies near the best trial's (the λ path)."""
    band_l1: tuple[float, float] | None
    best: Point | None
    """The best feasible COMPLETE trial (the one the API reports), always among ``points``."""
    front: list[tuple[float, float]]
    """(non-zero weights, best value among trials with that many): every trial, grouped in SQL."""
    curves: dict[str, dict[int, list[tuple[int, float]]]] = field(default_factory=dict)
    """State → trial number → (step, value) for a sample of trials."""
    distributions: dict[str, str] = field(default_factory=dict)
    """Every searched parameter of the study → its distribution as Optuna's JSON."""


def _numeric(text: Any) -> float | None:
    try:
        number = float(json.loads(text)) if isinstance(text, str) else float(text)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _standard_error(text: str | None) -> float | None:
    """The standard error of the mean of a JSON list of fold values (None for fewer than 2)."""
    if text is None:
        return None
    try:
        values = [float(v) for v in json.loads(text)]
    except (TypeError, ValueError):
        return None
    if len(values) < 2 or not all(math.isfinite(v) for v in values):
        return None
    return statistics.stdev(values) / math.sqrt(len(values))


def state_counts(session: Session, optuna_study_id: int) -> dict[str, int]:
    trial = om.TrialModel
    counts = {state.name: 0 for state in TrialState}
    for state, n in session.execute(
        select(trial.state, func.count())
        .where(trial.study_id == optuna_study_id)
        .group_by(trial.state)
    ).all():
        counts[state.name if isinstance(state, TrialState) else str(state)] = int(n)
    return counts


def distributions(session: Session, optuna_study_id: int) -> dict[str, str]:
    """Parameter name → distribution JSON, from the study's first trial that has parameters
    (a regtune study's space is fixed)."""
    trial, param = om.TrialModel, om.TrialParamModel
    first = (
        select(trial.trial_id)
        .where(trial.study_id == optuna_study_id)
        .where(select(param.param_id).where(param.trial_id == trial.trial_id).exists())
        .order_by(trial.number)
        .limit(1)
        .scalar_subquery()
    )
    rows = session.execute(
        select(param.param_name, param.distribution_json).where(param.trial_id == first)
    ).all()
    return {str(name): str(text) for name, text in sorted(rows)}


def _sample_query(optuna_study_id: int, knobs: list[str]) -> tuple[Any, dict[str, Any]]:
    """COMPLETE trials with objective 0, the knobs and ``n_nonzero`` as columns (one join each
    on a unique index), unfiltered and unordered."""
    trial, value = om.TrialModel, om.TrialValueModel
    nonzero, folds = aliased(om.TrialUserAttributeModel), aliased(om.TrialUserAttributeModel)
    joined: dict[str, Any] = {name: aliased(om.TrialParamModel) for name in knobs}
    query = select(
        trial.number,
        value.value,
        nonzero.value_json,
        folds.value_json,
        *(joined[name].param_value for name in knobs),
    ).join(value, and_(value.trial_id == trial.trial_id, value.objective == 0))
    for name, param in joined.items():
        query = query.outerjoin(
            param, and_(param.trial_id == trial.trial_id, param.param_name == name)
        )
    query = (
        query.outerjoin(
            nonzero, and_(nonzero.trial_id == trial.trial_id, nonzero.key == "n_nonzero")
        )
        .outerjoin(folds, and_(folds.trial_id == trial.trial_id, folds.key == FOLDS_ATTR))
        .where(
            trial.study_id == optuna_study_id,
            trial.state == TrialState.COMPLETE,
            value.value.is_not(None),
        )
    )
    return query, joined


def _points(rows: Any, knobs: list[str]) -> list[Point]:
    points: dict[int, Point] = {}
    for number, value, nonzero, folds, *params in rows:
        if value is None or not math.isfinite(value):
            continue
        points[int(number)] = Point(
            number=int(number),
            value=float(value),
            params={k: float(p) for k, p in zip(knobs, params, strict=True) if p is not None},
            n_nonzero=_numeric(nonzero),
            fold_se=_standard_error(folds),
        )
    return [points[n] for n in sorted(points)]


def sample_points(
    session: Session,
    optuna_study_id: int,
    *,
    knobs: list[str],
    n_trials: int,
    direction: str,
    max_points: int,
    l1_band: tuple[float, float] | None = None,
    also: int | None = None,
) -> list[Point]:
    """Every k-th COMPLETE trial (k from ``n_trials``, the study's trial count) and the
    ``BEST_KEPT`` best, at most about ``max_points``; ``l1_band``: only trials whose l1_ratio
    lies within it (the stride then assumes the band holds its width's share of the trials);
    ``also``: a trial number to include whatever the sample."""
    trial, value = om.TrialModel, om.TrialValueModel
    query, joined = _sample_query(optuna_study_id, knobs)
    if l1_band is not None and "l1_ratio" in joined:
        query = query.where(joined["l1_ratio"].param_value.between(*l1_band))
    share = 1.0 if l1_band is None else max(0.05, l1_band[1] - l1_band[0])
    stride = max(1, math.ceil(n_trials * share / max_points))
    spaced = query.order_by(trial.number).limit(max_points)
    if stride > 1:
        spaced = spaced.where(trial.number % stride == 0)
    order = value.value.desc() if direction == "maximize" else value.value.asc()
    top = (  # the best ids by value alone first: joining every trial's params before the sort
        select(trial.trial_id)  # costs a lookup per trial
        .join(value, and_(value.trial_id == trial.trial_id, value.objective == 0))
        .where(
            trial.study_id == optuna_study_id,
            trial.state == TrialState.COMPLETE,
            value.value.is_not(None),
        )
        .order_by(order, trial.number)
        .limit(BEST_KEPT)
    )
    best_ids = list(session.scalars(top))
    rows = list(session.execute(spaced).all())
    if best_ids:
        rows += session.execute(query.where(among(session, trial.trial_id, best_ids))).all()
    if also is not None:
        rows += session.execute(query.where(trial.number == also)).all()
    return _points(rows, knobs)


def sparsity_front(
    session: Session, optuna_study_id: int, *, direction: str
) -> list[tuple[float, float]]:
    """For each count of non-zero weights, the best value of the trials with that count; then
    only the counts that improve on every sparser one (the Pareto front of loss vs sparsity)."""
    trial, value = om.TrialModel, om.TrialValueModel
    nonzero = om.TrialUserAttributeModel
    best = func.max(value.value) if direction == "maximize" else func.min(value.value)
    count = cast(nonzero.value_json, Float)
    rows = session.execute(
        select(count, best)
        .select_from(trial)
        .join(value, and_(value.trial_id == trial.trial_id, value.objective == 0))
        .join(nonzero, and_(nonzero.trial_id == trial.trial_id, nonzero.key == "n_nonzero"))
        .where(
            trial.study_id == optuna_study_id,
            trial.state == TrialState.COMPLETE,
            value.value.is_not(None),
        )
        .group_by(count)
        .order_by(count)
    ).all()
    sign = -1.0 if direction == "maximize" else 1.0
    front: list[tuple[float, float]] = []
    for nz, v in rows:
        if nz is None or v is None or not math.isfinite(v):
            continue
        if not front or sign * v < sign * front[-1][1]:
            front.append((float(nz), float(v)))
    return front


def sample_curves(
    session: Session, optuna_study_id: int, *, counts: dict[str, int], per_state: int = CURVES
) -> dict[str, dict[int, list[tuple[int, float]]]]:
    """The learning curves of about ``per_state`` evenly spaced COMPLETE and PRUNED trials."""
    trial, step = om.TrialModel, om.TrialIntermediateValueModel
    chosen: dict[int, tuple[str, int]] = {}
    total = sum(counts.values())
    for state in ("COMPLETE", "PRUNED"):
        if not counts.get(state):
            continue
        stride = max(1, total // (per_state * 4))
        query = (
            select(trial.trial_id, trial.number)
            .where(trial.study_id == optuna_study_id, trial.state == TrialState[state])
            .order_by(trial.number)
        )
        rows = session.execute(query.where(trial.number % stride == 0).limit(per_state)).all()
        if len(rows) < per_state:  # few trials of this state among the spaced numbers
            rows = session.execute(query.limit(per_state)).all()
        chosen.update({int(tid): (state, int(number)) for tid, number in rows})
    curves: dict[str, dict[int, list[tuple[int, float]]]] = {"COMPLETE": {}, "PRUNED": {}}
    if not chosen:
        return curves
    for trial_id, at, v in session.execute(
        select(step.trial_id, step.step, step.intermediate_value)
        .where(among(session, step.trial_id, list(chosen)))
        .order_by(step.trial_id, step.step)
    ).all():
        if v is None or not math.isfinite(v):
            continue
        state, number = chosen[int(trial_id)]
        curves[state].setdefault(number, []).append((int(at), float(v)))
    return curves


def report_data(
    session: Session, optuna_study_id: int, *, direction: str, max_points: int = 2000
) -> ReportData:
    """Everything the report draws for one study: about a dozen indexed queries."""
    counts = state_counts(session, optuna_study_id)
    found = distributions(session, optuna_study_id)
    knobs = list(found)[:MAX_PARAMS]
    total = sum(counts.values())
    number = best_trial_number(session, optuna_study_id, direction)
    points = sample_points(
        session,
        optuna_study_id,
        knobs=knobs,
        n_trials=total,
        direction=direction,
        max_points=max_points,
        also=number,
    )
    band_l1: tuple[float, float] | None = None
    band = points
    best = next((p for p in points if p.number == number), None)
    if best is not None and "l1_ratio" in best.params and "lambda" in found:
        center = best.params["l1_ratio"]
        band_l1 = (max(0.0, center - 0.1), min(1.0, center + 0.1))
        band = sample_points(
            session,
            optuna_study_id,
            knobs=knobs,
            n_trials=total,
            direction=direction,
            max_points=max_points // 2,
            l1_band=band_l1,
            also=number,
        )
    return ReportData(
        counts=counts,
        points=points,
        band=band,
        band_l1=band_l1,
        best=best,
        front=sparsity_front(session, optuna_study_id, direction=direction),
        curves=sample_curves(session, optuna_study_id, counts=counts),
        distributions=found,
    )
