"""The relax margin: a relaxed best must beat the best unrelaxed trial by enough SEs."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from sqlalchemy.orm import Session

from regtune.service.store.optuna_db.internals.handles import om
from regtune.service.store.trials.best import with_param
from regtune.service.store.trials.folds import fold_values
from regtune.service.store.trials.param_values import distribution, external_value

RELAX = "relax"


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
    folds = fold_values(session, optuna_study_id, (best_number, unrelaxed))
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
        with_param(optuna_study_id, RELAX).where(trials.number == best_number)
    ).one_or_none()
    if best is None or external_value(best.param_value, best.distribution_json) == 0.0:
        return False, None
    try:
        zero = distribution(best.distribution_json).to_internal_repr(0.0)
    except ValueError:  # 0 is not among the choices: no trial is unrelaxed
        return True, None
    order = values.value.desc() if direction == "maximize" else values.value.asc()
    unrelaxed = session.scalar(
        with_param(optuna_study_id, RELAX)
        .where(params.param_value == zero, values.value.is_not(None))
        .order_by(order, trials.number)
        .limit(1)
        .with_only_columns(trials.number)
    )
    return True, None if unrelaxed is None else int(unrelaxed)
