"""Trials' fold values (k-fold validation): as stored, read back, and their standard error."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from regtune.service.store.db import among
from regtune.service.store.optuna_db.internals.handles import om

FOLDS_ATTR = "fold_values"
"""Trial user attribute: the objective metric of each fold's model (k-fold validation only)."""


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


def fold_values(
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
