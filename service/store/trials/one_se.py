"""The one-standard-error rule (``select: one_se``): glmnet's ``lambda.1se`` on a λ path."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from regtune.service.store.optuna_db.internals.handles import om
from regtune.service.store.trials.best import with_param
from regtune.service.store.trials.folds import FOLDS_ATTR, fold_standard_error
from regtune.service.store.trials.param_values import external_value

LAMBDA = "lambda"


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
        with_param(optuna_study_id, LAMBDA).where(
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
