"""The best trials of a study in SQL: best feasible value on objective 0 (never a trial marked
diverged), the unrelaxed trial the relax margin keeps in its place, the trial the
one-standard-error rule chooses, and the Pareto front."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, json_to_distribution
from optuna.trial import TrialState
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, aliased

from regtune.service.store.db import among
from regtune.service.store.optuna_db.attrs import DIVERGED_ATTR, FEASIBLE_ATTR
from regtune.service.store.optuna_db.internals.handles import om
from regtune.service.store.optuna_db.internals.pareto import is_pareto_front

BEST_CANDIDATES = 16
"""How many of the best trials are checked for feasibility before searching the whole study."""
FOLDS_ATTR = "fold_values"
"""Trial user attribute: the objective metric of each fold's model (k-fold validation only)."""
LAMBDA = "lambda"
RELAX = "relax"


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


def fold_standard_error(text: str | None) -> float | None:
    """The standard error of the mean of a JSON list of fold values (None for fewer than 2)."""
    values = _parsed_folds(text)
    return None if values is None else statistics.stdev(values) / math.sqrt(len(values))


def _parsed_folds(text: str | None) -> list[float] | None:
    """A trial's stored ``fold_values`` (JSON), if it holds at least 2, all finite."""
    if text is None:
        return None
    try:
        values = [float(v) for v in json.loads(text)]
    except (TypeError, ValueError):
        return None
    if len(values) < 2 or not all(math.isfinite(v) for v in values):
        return None
    return values


@dataclass(frozen=True)
class OneSe:
    """The trial the one-standard-error rule chose, and what it was measured against."""

    number: int
    best_number: int
    """The trial with the best value; the threshold is its value ± its standard error."""
    threshold: float
    se: float | None
    """The best trial's standard error across folds (None without fold values: no slack)."""

    @property
    def note(self) -> str:
        if self.se is None:
            return f"one_se: trial #{self.best_number} has no fold values, so it is chosen"
        return (
            f"one_se: the largest λ whose value is within 1 SE ({self.se:.4g}) of trial "
            f"#{self.best_number}'s, i.e. within {self.threshold:.6g}, along its λ path (its "
            "other parameters held)"
        )


def one_se_choice(
    session: Session, optuna_study_id: int, direction: str, best_number: int
) -> OneSe:
    """glmnet's ``lambda.1se``, along the best configuration's λ path: among feasible COMPLETE
    trials whose parameters other than λ equal the best trial's (l1_ratio, relax and the rest
    held, as glmnet takes it at the chosen α and gamma) and whose value is within one standard
    error (across the best trial's folds) of the best value, the one with the largest λ — the
    most regularized model the data cannot tell from the best. Ties: the better value, then
    the lower number. None other on that path: the best trial."""
    trials, values, attrs = om.TrialModel, om.TrialValueModel, om.TrialUserAttributeModel
    best_id, best_value, folds = session.execute(
        select(trials.trial_id, values.value, attrs.value_json)
        .join(values, values.trial_id == trials.trial_id)
        .outerjoin(attrs, (attrs.trial_id == trials.trial_id) & (attrs.key == FOLDS_ATTR))
        .where(
            trials.study_id == optuna_study_id,
            trials.number == best_number,
            values.objective == 0,
        )
    ).one()
    se = fold_standard_error(folds)
    if se is None:
        return OneSe(best_number, best_number, float(best_value), None)
    maximize = direction == "maximize"
    threshold = float(best_value) - se if maximize else float(best_value) + se
    rows = session.execute(
        _with_param(optuna_study_id, LAMBDA).where(
            values.value >= threshold if maximize else values.value <= threshold,
            *_same_other_params(session, best_id),
        )
    ).all()
    sign = -1.0 if maximize else 1.0
    ranked = [
        (-external_value(internal, distribution), sign * float(value), int(number))
        for number, value, internal, distribution in rows
        if value is not None and not math.isnan(value)
    ]
    number = min(ranked)[2] if ranked else best_number
    return OneSe(number, best_number, threshold, se)


def _same_other_params(session: Session, trial_id: int) -> list[Any]:
    """Conditions on ``om.TrialModel``: the trial has the params of trial ``trial_id`` but λ,
    each with the same stored value, and no other param but λ (the same point of the search
    space but for λ: a λ path's points)."""
    held = session.execute(
        select(om.TrialParamModel.param_name, om.TrialParamModel.param_value).where(
            om.TrialParamModel.trial_id == trial_id, om.TrialParamModel.param_name != LAMBDA
        )
    ).all()
    params = aliased(om.TrialParamModel)  # the outer query joins the params table (λ's row)

    def has(*conditions: Any) -> Any:
        return select(params.param_id).where(params.trial_id == om.TrialModel.trial_id, *conditions)

    same = [
        has(params.param_name == name, params.param_value == value).exists() for name, value in held
    ]
    names = [LAMBDA, *(name for name, _ in held)]
    return [*same, ~has(params.param_name.not_in(names)).exists()]


@dataclass(frozen=True)
class RelaxMargin:
    """``objective.relax_margin``'s choice: the best trial, or the best unrelaxed one when the
    best is relaxed and not better by more than ``margin`` standard errors of their fold
    differences."""

    number: int
    best_number: int
    unrelaxed: int | None
    """The best feasible COMPLETE trial with relax 0, if the best is relaxed and one exists."""
    gain: float = 0.0
    """How much better the best's value is than the unrelaxed one's."""
    se: float = 0.0
    """The standard error of their fold differences."""
    margin: float = 0.0

    @property
    def note(self) -> str | None:
        if self.unrelaxed is None:
            return None
        kept = "kept" if self.number == self.best_number else "not kept"
        return (
            f"relax_margin: relaxed trial #{self.best_number} beats unrelaxed trial "
            f"#{self.unrelaxed} by {self.gain:.4g} (SE {self.se:.4g} of their fold differences, "
            f"margin {self.margin:g} SE): {kept}"
        )


def relax_margin_choice(
    session: Session, optuna_study_id: int, direction: str, best_number: int, margin: float
) -> RelaxMargin:
    """The best trial, unless it is relaxed (its ``relax`` > 0) and its value beats the best
    feasible unrelaxed trial's by at most ``margin`` standard errors of the differences between
    their fold values (paired: the same folds); then that unrelaxed trial. Trials without fold
    values keep the best."""
    sign = -1.0 if direction == "maximize" else 1.0
    relaxed, unrelaxed = _best_unrelaxed(session, optuna_study_id, direction, best_number)
    if not relaxed or unrelaxed is None:
        return RelaxMargin(best_number, best_number, None)
    folds = _fold_values(session, optuna_study_id, (best_number, unrelaxed))
    best, plain = folds.get(best_number), folds.get(unrelaxed)
    if best is None or plain is None or len(best) != len(plain):
        return RelaxMargin(best_number, best_number, None)
    gain = sign * (statistics.fmean(plain) - statistics.fmean(best))
    differences = [p - b for p, b in zip(plain, best, strict=True)]
    se = statistics.stdev(differences) / math.sqrt(len(differences))
    number = best_number if gain > margin * se else unrelaxed
    return RelaxMargin(number, best_number, unrelaxed, gain, se, margin)


def _best_unrelaxed(
    session: Session, optuna_study_id: int, direction: str, best_number: int
) -> tuple[bool, int | None]:
    """Whether trial ``best_number`` is relaxed, and if it is, the best feasible COMPLETE trial
    with relax 0 (None: none). Two indexed reads: the best's relax, then the top unrelaxed
    trial, relax 0 as the study's relax distribution stores it."""
    trials, values, params = om.TrialModel, om.TrialValueModel, om.TrialParamModel
    best = session.execute(
        _with_param(optuna_study_id, RELAX).where(trials.number == best_number)
    ).one_or_none()
    if best is None or external_value(best.param_value, best.distribution_json) == 0.0:
        return False, None
    try:
        zero = _distribution(best.distribution_json).to_internal_repr(0.0)
    except ValueError:  # 0 is not among the choices: no trial is unrelaxed
        return True, None
    order = values.value.desc() if direction == "maximize" else values.value.asc()
    unrelaxed = session.scalar(
        _with_param(optuna_study_id, RELAX)
        .where(params.param_value == zero, values.value.is_not(None))
        .order_by(order, trials.number)
        .limit(1)
        .with_only_columns(trials.number)
    )
    return True, None if unrelaxed is None else int(unrelaxed)


def _with_param(optuna_study_id: int, name: str) -> Any:
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


def _fold_values(
    session: Session, optuna_study_id: int, numbers: Sequence[int]
) -> dict[int, list[float]]:
    """The fold values of the trials ``numbers`` that have finite ones (at least 2)."""
    trials, attrs = om.TrialModel, om.TrialUserAttributeModel
    rows = session.execute(
        select(trials.number, attrs.value_json)
        .join(attrs, (attrs.trial_id == trials.trial_id) & (attrs.key == FOLDS_ATTR))
        .where(trials.study_id == optuna_study_id, among(session, trials.number, list(numbers)))
    ).all()
    found = {}
    for number, text in rows:
        folds = _parsed_folds(text)
        if folds is not None:
            found[int(number)] = folds
    return found


def external_value(internal: float, distribution_json: str) -> float:
    """A parameter's value from Optuna's stored form (a choice is stored as its index)."""
    return float(_distribution(distribution_json).to_external_repr(internal))


def external_choice(internal: float, distribution_json: str) -> float | str:
    """A parameter's value as the trial ran with it: a number, or a choice's label (a searched
    architecture's ``"128-64"``)."""
    value = _distribution(distribution_json).to_external_repr(internal)
    return value if isinstance(value, str) else float(value)


@lru_cache(maxsize=256)
def _distribution(distribution_json: str) -> BaseDistribution:
    """A stored distribution, parsed once: a study's trials share a few."""
    return json_to_distribution(distribution_json)


def chosen_trial_number(
    session: Session,
    optuna_study_id: int,
    direction: str,
    select_rule: str,
    relax_margin: float | None = None,
) -> int | None:
    """The study's best trial: the best value, the unrelaxed trial ``relax_margin`` keeps in its
    place, and under ``objective.select: one_se`` the largest λ within one standard error of
    that along its λ path (its other parameters held; ``chosen_trial`` without its note)."""
    return chosen_trial(session, optuna_study_id, direction, select_rule, relax_margin)[0]


def chosen_trial(
    session: Session,
    optuna_study_id: int,
    direction: str,
    select_rule: str,
    relax_margin: float | None = None,
    *,
    best: Sequence[tuple[int, int]] | None = None,
    limit: int = BEST_CANDIDATES,
) -> tuple[int | None, str | None]:
    """``chosen_trial_number``'s trial, and why it is not the best value's (the notes the
    API's ``selection.note`` gives), if a rule applied. ``best``, ``limit``: as
    ``best_trial_number``'s."""
    chosen = selection(
        session, optuna_study_id, direction, select_rule, relax_margin, best=best, limit=limit
    )
    return chosen.number, chosen.note


@dataclass(frozen=True)
class Selection:
    """The study's chosen trial (``chosen_trial``'s), and the trial it was chosen from."""

    number: int | None
    start: int | None
    """The best value's trial, or the unrelaxed one ``relax_margin`` kept in its place: the
    trial ``select: one_se`` measured from (glmnet's ``lambda.min``); ``number`` without it."""
    note: str | None


def selection(
    session: Session,
    optuna_study_id: int,
    direction: str,
    select_rule: str,
    relax_margin: float | None = None,
    *,
    best: Sequence[tuple[int, int]] | None = None,
    limit: int = BEST_CANDIDATES,
) -> Selection:
    """``chosen_trial``'s choice, with the trial the one-SE rule started from (the report marks
    both λ)."""
    choice = best_choice(session, optuna_study_id, direction, best=best, limit=limit)
    number = choice.number
    if number is None:
        return Selection(None, None, choice.note)
    notes: list[str | None] = [choice.note]
    if relax_margin:
        kept = relax_margin_choice(session, optuna_study_id, direction, number, relax_margin)
        number = kept.number
        notes.append(kept.note)
    start = number
    if select_rule == "one_se":
        one_se = one_se_choice(session, optuna_study_id, direction, number)
        number = one_se.number
        notes.append(one_se.note)
    return Selection(number, start, "; ".join(n for n in notes if n) or None)
