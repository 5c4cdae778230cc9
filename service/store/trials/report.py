"""What the study report draws, read in SQL: counts, samples and aggregates, never every trial.

A report of a 100,000-trial study must be built in well under a second and ship a few thousand
points, so every read here is a count, a ``GROUP BY`` or an evenly spaced sample (every k-th
trial number) capped at ``max_points``, plus the best trials so that the optimum is always drawn.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from optuna.distributions import CategoricalDistribution, json_to_distribution
from optuna.trial import TrialState
from sqlalchemy import Float, and_, cast, func, null, select
from sqlalchemy.orm import Session, aliased

from regtune.service.store.db import among
from regtune.service.store.optuna_db.attrs import (
    COEFFICIENTS_ATTR,
    FEASIBLE_ATTR,
    STOPPED_EARLY_ATTR,
)
from regtune.service.store.optuna_db.internals.handles import om
from regtune.service.store.trials.best import best_choice, by_value
from regtune.service.store.trials.coefficients import decode
from regtune.service.store.trials.curves import Reported, sample_curves
from regtune.service.store.trials.failures import Failures, retry_join, stopped_marks
from regtune.service.store.trials.folds import FOLDS_ATTR, fold_standard_error
from regtune.service.store.trials.param_values import external_choice
from regtune.service.store.trials.selection import selection

BEST_KEPT = 50
"""Best trials added to every sample, so that the optimum and its neighbours are drawn."""
MAX_PARAMS = 12
"""Parameters read per sampled trial (one indexed join each)."""
MIN_BAND = 10
"""Fewer trials than this near the best l1_ratio: the λ path is drawn from every l1_ratio."""


@dataclass
class Point:
    """One COMPLETE trial as the report draws it."""

    number: int
    value: float
    params: dict[str, float]
    """The values the trial ran with (a choice's value, not the index Optuna stores)."""
    n_nonzero: float | None
    fold_se: float | None = None
    """Standard error of the objective across the trial's folds (with several folds)."""
    coefficients: dict[str, float] | None = None
    """A linear trial's weights by input name (read for the λ band only)."""
    labels: dict[str, str] = field(default_factory=dict)
    """The choices the trial ran with that are not numbers (a searched architecture,
    ``"128-64"``): drawn by the search plots and importances, not on numeric axes."""
    feasible: bool = True
    """False when the trial is over ``objective.max_nonzero`` (user attribute ``feasible:
    false``, as the worker marks it): never the best, whatever its value."""


@dataclass(frozen=True)
class StoppedEarly:
    """COMPLETE trials that early stopping ended, and the fewest and most epochs they ran."""

    trials: int
    fewest: int | None = None
    most: int | None = None


@dataclass
class ReportData:
    counts: dict[str, int]
    points: list[Point]
    """A sample of COMPLETE trials (objective 0 finite), with the best ones."""
    band: list[Point]
    """A sample of COMPLETE trials whose l1_ratio lies near the best trial's (the λ path; of
    every l1_ratio without a best trial), with their coefficients where stored."""
    band_l1: tuple[float, float] | None
    best: Point | None
    """The best feasible COMPLETE trial (the one the API reports), always among ``points``."""
    front: list[tuple[float, float]]
    """(non-zero weights, best value among trials with that many): every trial, grouped in SQL."""
    one_se_from: Point | None = None
    """Under ``objective.select: one_se``, the trial the rule measured from (the best value's,
    or the one ``relax_margin`` kept: glmnet's ``lambda.min``), always among ``points``; None
    under ``select: best``, where ``best`` is that trial."""
    relaxed_best: int | None = None
    """The number of the best value's trial when ``relax_margin`` kept ``one_se_from`` (the
    best unrelaxed trial) in its place, a relaxed trial that beat it by too little; else None."""
    curves: dict[str, dict[int, list[tuple[int, float]]]] = field(default_factory=dict)
    """State → trial number → (step, value) for a sample of trials, with ``best``."""
    several: bool = False
    """A study of several objectives: ``curves`` are its trials' ``val_curve`` by epoch (Optuna
    records no intermediate value of such a trial, and prunes none)."""
    reported: dict[str, Reported] = field(default_factory=dict)
    """COMPLETE and PRUNED: the steps every trial of the state reported, which the caller reads
    from the trial index (``views.reported_steps``)."""
    silent: int = 0
    """COMPLETE trials that reported no step (``silent_trials``), which the caller reads beside
    ``reported``."""
    distributions: dict[str, str] = field(default_factory=dict)
    """Every searched parameter of the study → its distribution as Optuna's JSON."""
    selection: str | None = None
    """What ``relax_margin`` and ``one_se`` measured to choose ``best`` (the API's
    ``selection.note``), if a rule applied."""
    stopped: StoppedEarly = field(default_factory=lambda: StoppedEarly(0))
    """The COMPLETE trials early stopping ended."""
    failures: Failures = field(default_factory=Failures)
    """What became of the FAIL trials, counted with the states."""


def _numeric(text: Any) -> float | None:
    try:
        number = float(json.loads(text)) if isinstance(text, str) else float(text)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def state_counts(session: Session, optuna_study_id: int) -> tuple[dict[str, int], Failures]:
    """The trials by state, and what became of the FAIL ones (``Failures``). The states are
    counted alone (an index's work); only a study with FAIL trials pays for the join that tells
    them apart (each trial's row and retry attribute: 26 against 69 ms at 100,000 trials on
    SQLite), and a study without them has no copies to count."""
    trial = om.TrialModel
    counts = {state.name: 0 for state in TrialState}
    for state, n in session.execute(
        select(trial.state, func.count())
        .where(trial.study_id == optuna_study_id)
        .group_by(trial.state)
    ).all():
        counts[state.name if isinstance(state, TrialState) else str(state)] = int(n)
    if not counts["FAIL"]:
        return counts, Failures()
    return counts, _failures(session, optuna_study_id, failed=counts["FAIL"])


def _failures(session: Session, optuna_study_id: int, *, failed: int) -> Failures:
    """What became of the study's ``failed`` FAIL trials: copies queued (in any state), FAIL
    trials that never started, one aggregate; and FAIL trials their study's end stopped, by
    mark."""
    trials = om.TrialModel.__table__
    retry = retry_join(trials)
    retried = not_run = retries_not_run = 0
    for state, is_retry, not_started, n in session.execute(
        select(trials.c.state, retry.is_retry, retry.not_started, func.count())
        .select_from(retry.joined)
        .where(trials.c.study_id == optuna_study_id)
        .group_by(trials.c.state, retry.is_retry, retry.not_started)
    ).all():
        name = state.name if isinstance(state, TrialState) else str(state)
        retried += int(n) if is_retry else 0
        if name == "FAIL" and not_started:
            not_run += int(n)
            retries_not_run += int(n) if is_retry else 0
    marked = stopped_marks(trials).where(trials.c.study_id == optuna_study_id).subquery()
    by_mark = session.execute(select(marked.c.key, func.count()).group_by(marked.c.key))
    stopped = {str(mark): int(n) for mark, n in by_mark}
    return Failures(failed, retried, not_run, retries_not_run).with_stopped(stopped)


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


def _sample_query(
    optuna_study_id: int, knobs: list[str], *, coefficients: bool = False
) -> tuple[Any, dict[str, Any]]:
    """COMPLETE trials with objective 0, the knobs, ``n_nonzero`` and ``feasible`` as columns
    (one join each on a unique index), and the stored coefficients if asked; unfiltered and
    unordered."""
    trial, value = om.TrialModel, om.TrialValueModel
    nonzero, folds = aliased(om.TrialUserAttributeModel), aliased(om.TrialUserAttributeModel)
    feasible = aliased(om.TrialUserAttributeModel)
    weights = om.TrialSystemAttributeModel
    joined: dict[str, Any] = {name: aliased(om.TrialParamModel) for name in knobs}
    query = select(
        trial.number,
        value.value,
        nonzero.value_json,
        folds.value_json,
        feasible.value_json,
        weights.value_json if coefficients else null(),
        *(joined[name].param_value for name in knobs),
    ).join(value, and_(value.trial_id == trial.trial_id, value.objective == 0))
    if coefficients:
        query = query.outerjoin(
            weights, and_(weights.trial_id == trial.trial_id, weights.key == COEFFICIENTS_ATTR)
        )
    for name, param in joined.items():
        query = query.outerjoin(
            param, and_(param.trial_id == trial.trial_id, param.param_name == name)
        )
    query = (
        query.outerjoin(
            nonzero, and_(nonzero.trial_id == trial.trial_id, nonzero.key == "n_nonzero")
        )
        .outerjoin(folds, and_(folds.trial_id == trial.trial_id, folds.key == FOLDS_ATTR))
        .outerjoin(
            feasible, and_(feasible.trial_id == trial.trial_id, feasible.key == FEASIBLE_ATTR)
        )
        .where(
            trial.study_id == optuna_study_id,
            trial.state == TrialState.COMPLETE,
            value.value.is_not(None),
        )
    )
    return query, joined


def _points(rows: Any, knobs: dict[str, str]) -> list[Point]:
    """``knobs``: name → distribution JSON, to turn a stored choice index into its value."""
    points: dict[int, Point] = {}
    for number, value, nonzero, folds, feasible, weights, *params in rows:
        if value is None or not math.isfinite(value):
            continue
        values = {
            k: v
            for (k, text), p in zip(knobs.items(), params, strict=True)
            if p is not None and (v := _value(p, text)) is not None
        }
        points[int(number)] = Point(
            number=int(number),
            value=float(value),
            params={k: v for k, v in values.items() if not isinstance(v, str)},
            n_nonzero=_numeric(nonzero),
            fold_se=fold_standard_error(folds),
            coefficients=decode(weights),
            labels={k: v for k, v in values.items() if isinstance(v, str)},
            feasible=feasible != "false",
        )
    return [points[n] for n in sorted(points)]


def best_rows(session: Session, optuna_study_id: int, *, direction: str) -> list[tuple[int, int]]:
    """(number, id) of the ``BEST_KEPT`` best COMPLETE trials, by value alone (joining every
    trial's parameters before the sort would cost a lookup per trial); read once per report."""
    query = by_value(optuna_study_id, direction).limit(BEST_KEPT)
    return [(int(number), int(trial_id)) for number, trial_id in session.execute(query).all()]


def sample_points(
    session: Session,
    optuna_study_id: int,
    *,
    knobs: dict[str, str],
    n_trials: int,
    max_points: int,
    best: list[int],
    l1_band: tuple[float, float] | None = None,
    also: Sequence[int] = (),
    coefficients: bool = False,
) -> list[Point]:
    """Every k-th COMPLETE trial (k from ``n_trials``, the study's trial count) and the trials
    ``best`` (ids), at most about ``max_points``; ``knobs``: the parameters read, name →
    distribution JSON; ``l1_band``: only trials whose l1_ratio lies
    within it (the stride then assumes the band holds its width's share of the trials);
    ``also``: trial numbers to include whatever the sample; ``coefficients``: read the
    trials' stored weights too."""
    trial, param = om.TrialModel, om.TrialParamModel
    query, joined = _sample_query(optuna_study_id, list(knobs), coefficients=coefficients)
    if l1_band is not None and "l1_ratio" in joined:  # the best ones too
        query = query.where(_within(joined["l1_ratio"].param_value, l1_band, knobs["l1_ratio"]))
    # the ids first, from the (study_id, number) index and one join at most, then every column
    # for those ids alone: joining every trial's columns before the limit costs PostgreSQL a
    # hash join over the whole study
    spaced = select(trial.trial_id).where(
        trial.study_id == optuna_study_id, trial.state == TrialState.COMPLETE
    )
    if l1_band is not None and "l1_ratio" in knobs:
        spaced = spaced.join(
            param,
            and_(
                param.trial_id == trial.trial_id,
                param.param_name == "l1_ratio",
                _within(param.param_value, l1_band, knobs["l1_ratio"]),
            ),
        )
    share = 1.0 if l1_band is None else max(0.05, l1_band[1] - l1_band[0])
    stride = max(1, math.ceil(n_trials * share / max_points))
    if stride > 1:
        spaced = spaced.where(trial.number % stride == 0)
    ids = set(session.scalars(spaced.order_by(trial.number).limit(max_points))) | set(best)
    rows = list(session.execute(query.where(among(session, trial.trial_id, sorted(ids)))).all())
    missing = set(also) - {row[0] for row in rows}
    if missing:
        rows += session.execute(query.where(trial.number.in_(sorted(missing)))).all()
    return _points(rows, knobs)


def _value(internal: float, distribution_json: str) -> float | str | None:
    """The parameter's value: a number or a choice's label; None for a choice that is neither
    (null)."""
    try:
        return external_choice(internal, distribution_json)
    except (TypeError, ValueError):
        return None


def _within(column: Any, band: tuple[float, float], distribution_json: str) -> Any:
    """``column`` (a stored parameter value) within ``band`` of values: the indices of the
    choices inside it for a categorical parameter, the range itself otherwise."""
    distribution = json_to_distribution(distribution_json)
    if isinstance(distribution, CategoricalDistribution):
        inside = [
            i
            for i, choice in enumerate(distribution.choices)
            if isinstance(choice, int | float) and band[0] <= choice <= band[1]
        ]
        return column.in_(inside)
    return column.between(*band)


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


def silent_trials(session: Session, optuna_study_id: int) -> int:
    """COMPLETE trials that reported no step (Optuna's intermediate values): a trial that
    diverged at its first step reports none (its value not finite), and counted among the
    others as a trial of 0 steps it would pull their mean down. One probe of the
    ``(trial_id, step)`` index per COMPLETE trial: 70 ms at 100,000 trials on SQLite."""
    trial, step = om.TrialModel, om.TrialIntermediateValueModel
    reported = select(step.trial_intermediate_value_id).where(step.trial_id == trial.trial_id)
    found = session.scalar(
        select(func.count())
        .select_from(trial)
        .where(
            trial.study_id == optuna_study_id,
            trial.state == TrialState.COMPLETE,
            ~reported.exists(),
        )
    )
    return int(found or 0)


def stopped_early(session: Session, optuna_study_id: int) -> StoppedEarly:
    """How many COMPLETE trials early stopping ended and the range of their ``epochs_run``: one
    aggregate, as the counts are."""
    trial = om.TrialModel
    stopped, ran = aliased(om.TrialUserAttributeModel), aliased(om.TrialUserAttributeModel)
    epochs = cast(ran.value_json, Float)
    n, fewest, most = session.execute(
        select(func.count(), func.min(epochs), func.max(epochs))
        .select_from(trial)
        .join(
            stopped,
            and_(
                stopped.trial_id == trial.trial_id,
                stopped.key == STOPPED_EARLY_ATTR,
                stopped.value_json == "true",
            ),
        )
        .outerjoin(ran, and_(ran.trial_id == trial.trial_id, ran.key == "epochs_run"))
        .where(trial.study_id == optuna_study_id, trial.state == TrialState.COMPLETE)
    ).one()
    if not n:
        return StoppedEarly(0)
    return StoppedEarly(
        int(n), None if fewest is None else int(fewest), None if most is None else int(most)
    )


def report_data(
    session: Session,
    optuna_study_id: int,
    *,
    direction: str,
    max_points: int = 2000,
    front: bool = True,
    select: str = "best",
    relax_margin: float | None = None,
    several: bool = False,
) -> ReportData:
    """Everything the report draws for one study: about a dozen indexed queries. ``front``:
    False leaves the loss-against-sparsity front (``sparsity_front``, the one read of every
    trial) to the caller, who may run it on another connection meanwhile. ``select``,
    ``relax_margin``: the study's ``objective``'s, so that ``best`` is the trial the API
    reports and the saved model is. ``several``: the study has several objectives (its
    learning curves are its trials' ``val_curve``)."""
    counts, failures = state_counts(session, optuna_study_id)
    found = distributions(session, optuna_study_id)
    knobs = dict(list(found.items())[:MAX_PARAMS])
    total = sum(counts.values())
    top_rows = best_rows(session, optuna_study_id, direction=direction)
    chosen = selection(
        session, optuna_study_id, direction, select, relax_margin, best=top_rows, limit=BEST_KEPT
    )
    number = chosen.number
    relaxed_best = None
    if select == "one_se" and relax_margin and chosen.start is not None:
        by_best = best_choice(session, optuna_study_id, direction, best=top_rows, limit=BEST_KEPT)
        relaxed_best = by_best.number if by_best.number != chosen.start else None
    also = tuple(n for n in {number, chosen.start} if n is not None)
    top = [trial_id for _, trial_id in top_rows]
    points = sample_points(
        session,
        optuna_study_id,
        knobs=knobs,
        n_trials=total,
        max_points=max_points,
        best=top,
        also=also,
    )
    band_l1: tuple[float, float] | None = None
    band = points
    best = next((p for p in points if p.number == number), None)
    start = next((p for p in points if p.number == chosen.start), None)

    def near(l1_band: tuple[float, float] | None) -> list[Point]:
        return sample_points(
            session,
            optuna_study_id,
            knobs=knobs,
            n_trials=total,
            max_points=max_points // 2,
            best=top,
            l1_band=l1_band,
            also=also,
            coefficients=True,
        )

    if "lambda" in found:  # infeasible trials too: with no best, the path of every l1_ratio
        if best is not None and "l1_ratio" in best.params:
            center = best.params["l1_ratio"]
            band_l1 = (max(0.0, center - 0.1), min(1.0, center + 0.1))
        band = near(band_l1)
        if band_l1 is not None and len(band) < MIN_BAND:  # a small study: every l1_ratio
            band_l1 = None
            band = near(None)
    return ReportData(
        counts=counts,
        points=points,
        band=band,
        band_l1=band_l1,
        best=best,
        one_se_from=start if select == "one_se" else None,
        relaxed_best=relaxed_best,
        front=sparsity_front(session, optuna_study_id, direction=direction) if front else [],
        curves=sample_curves(session, optuna_study_id, counts=counts, best=number, several=several),
        several=several,
        stopped=stopped_early(session, optuna_study_id) if counts["COMPLETE"] else StoppedEarly(0),
        failures=failures,
        distributions=found,
        selection=chosen.note,
    )
