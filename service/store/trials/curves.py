"""The report's learning curves, read in SQL: a few trials' curves, spaced evenly over each state,
and how many steps trials reported, counted (never every curve); and the curve of a trial of
several objectives, which Optuna records none of, from its ``val_curve`` attribute."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from optuna.trial import TrialState
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from regtune.service.store.db import among
from regtune.service.store.optuna_db.attrs import VAL_CURVE_ATTR
from regtune.service.store.optuna_db.internals.handles import om

CURVES = 15
"""Learning curves drawn per state (COMPLETE, PRUNED)."""
STATES = ("COMPLETE", "PRUNED")
CURVE_ATTRS = (VAL_CURVE_ATTR, "epochs_run")
"""The user attributes a trial of several objectives keeps its learning curve in."""


@dataclass(frozen=True)
class Reported:
    """The trials of one state and the steps (Optuna's intermediate values) they reported."""

    trials: int
    steps: int

    @property
    def mean(self) -> float:
        """Steps reported per trial, over every trial of the state."""
        return self.steps / self.trials if self.trials else 0.0


def val_curve(user_attrs: dict[str, Any]) -> dict[int, float]:
    """A trial of several objectives' learning curve, which Optuna records none of (it takes no
    intermediate value of such a trial): its ``val_curve`` user attribute, the first objective's
    value at each epoch, by epoch as a trial of one objective reports it: ending at
    ``epochs_run`` (a λ path's point holds its last value alone), its values that are not
    finite (a diverged epoch's) left out. Empty for a trial without one."""
    curve = user_attrs.get(VAL_CURVE_ATTR)
    if not isinstance(curve, list) or not curve:
        return {}
    ran = user_attrs.get("epochs_run")
    last = ran if isinstance(ran, int) and ran >= len(curve) else len(curve)
    first = last - len(curve) + 1
    return {
        first + i: float(v)
        for i, v in enumerate(curve)
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }


def steps_reported(session: Session, trial_ids: list[int]) -> int:
    """The steps (Optuna's intermediate values) the trials ``trial_ids`` reported in all: their
    entries of the ``(trial_id, step)`` index, counted, no value read."""
    step = om.TrialIntermediateValueModel
    found = session.scalar(
        select(func.count()).select_from(step).where(among(session, step.trial_id, trial_ids))
    )
    return int(found or 0)


def _spaced(
    session: Session, optuna_study_id: int, state: TrialState, *, n: int, per_state: int
) -> list[tuple[int, int]]:
    """(trial id, number) of ``per_state`` of the ``n`` trials of ``state``, the first and the
    last among them, evenly spaced: picked from every k-th trial number (k from ``n``: about
    4 × ``per_state`` of them), or from every trial of the state where that gives too few (a
    small state, or one whose numbers the stride misses). Every trial of a state of at most
    ``per_state``."""
    trial = om.TrialModel
    query = (
        select(trial.trial_id, trial.number)
        .where(trial.study_id == optuna_study_id, trial.state == state)
        .order_by(trial.number)
    )
    stride = max(1, n // (per_state * 4))
    rows = session.execute(query.where(trial.number % stride == 0) if stride > 1 else query).all()
    if stride > 1 and len(rows) < per_state:
        rows = session.execute(query).all()
    if len(rows) > per_state:
        last = len(rows) - 1  # steps of more than one: no trial twice
        rows = [rows[round(i * last / (per_state - 1))] for i in range(per_state)]
    return [(int(trial_id), int(number)) for trial_id, number in rows]


def sample_curves(
    session: Session,
    optuna_study_id: int,
    *,
    counts: dict[str, int],
    per_state: int = CURVES,
    best: int | None = None,
    several: bool = False,
) -> dict[str, dict[int, list[tuple[int, float]]]]:
    """State → trial number → (step, value): the learning curves of ``per_state`` COMPLETE and
    ``per_state`` PRUNED trials spaced evenly over each state (``counts``: the trials by state),
    every trial of a state with no more, and the COMPLETE trial numbered ``best`` (the report's
    best trial) whatever the sample. ``several``: a study of several objectives, whose trials'
    curves are their ``val_curve`` by epoch (``val_curve``), Optuna recording none."""
    if per_state < 2:
        raise ValueError(f"per_state must be ≥ 2 (the first and the last), got {per_state=}")
    trial = om.TrialModel
    chosen: dict[int, tuple[str, int]] = {}
    for state in STATES:
        if n := counts.get(state, 0):
            rows = _spaced(session, optuna_study_id, TrialState[state], n=n, per_state=per_state)
            chosen.update({trial_id: (state, number) for trial_id, number in rows})
    if best is not None and ("COMPLETE", best) not in chosen.values():
        found = session.scalar(
            select(trial.trial_id).where(
                trial.study_id == optuna_study_id,
                trial.number == best,
                trial.state == TrialState.COMPLETE,
            )
        )
        if found is not None:
            chosen[int(found)] = ("COMPLETE", best)
    curves: dict[str, dict[int, list[tuple[int, float]]]] = {state: {} for state in STATES}
    if not chosen:
        return curves
    read = _epochs if several else _steps
    for trial_id, curve in read(session, list(chosen)).items():
        state, number = chosen[trial_id]
        curves[state][number] = curve
    return curves


def _steps(session: Session, trial_ids: list[int]) -> dict[int, list[tuple[int, float]]]:
    """Trial id → (step, value): the finite intermediate values the trials reported, by step."""
    step = om.TrialIntermediateValueModel
    curves: dict[int, list[tuple[int, float]]] = {}
    for trial_id, at, v in session.execute(
        select(step.trial_id, step.step, step.intermediate_value)
        .where(among(session, step.trial_id, trial_ids))
        .order_by(step.trial_id, step.step)
    ).all():
        if v is None or not math.isfinite(v):
            continue
        curves.setdefault(int(trial_id), []).append((int(at), float(v)))
    return curves


def _epochs(session: Session, trial_ids: list[int]) -> dict[int, list[tuple[int, float]]]:
    """Trial id → (epoch, value): the trials' ``val_curve`` by epoch (``val_curve``), read from
    their user attributes, for trials of several objectives (Optuna records none of theirs)."""
    attr = om.TrialUserAttributeModel
    attrs: dict[int, dict[str, Any]] = {}
    for trial_id, key, text in session.execute(
        select(attr.trial_id, attr.key, attr.value_json).where(
            among(session, attr.trial_id, trial_ids), attr.key.in_(CURVE_ATTRS)
        )
    ).all():
        attrs.setdefault(int(trial_id), {})[str(key)] = json.loads(text)
    curves = {trial_id: sorted(val_curve(found).items()) for trial_id, found in attrs.items()}
    return {trial_id: curve for trial_id, curve in curves.items() if curve}
