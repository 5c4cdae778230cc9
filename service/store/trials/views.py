"""Reading trials straight from Optuna's tables: paginated and counted in SQL.

Optuna's own ``get_all_trials`` loads every trial of a study; a page of 50 out of 10,000 must
not. The table models are Optuna's, so what is read here is exactly what the dashboard reads.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from cachetools import LRUCache
from optuna.distributions import json_to_distribution
from optuna.trial import TrialState
from sqlalchemy import (
    Float,
    String,
    Text,
    cast,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from regtune.service.store.db import among
from regtune.service.store.optuna_db.attrs import FAILED_TRIAL_ATTR, PATH_OF_ATTR
from regtune.service.store.optuna_db.internals.handles import om
from regtune.service.store.trials.best import best_trial_number as best_trial_number
from regtune.service.store.trials.curves import Reported, val_curve
from regtune.service.store.trials.failures import Failures
from regtune.service.store.trials.index import known_index, study_index


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
    """The learning curve, read ``with_curves``: Optuna's intermediate values by step, or a
    trial of several objectives' ``val_curve`` by epoch (``curves.val_curve``)."""
    system_attrs: dict[str, Any] = field(default_factory=dict)
    trial_id: int = 0

    @property
    def value(self) -> float | None:
        return self.values[0] if self.values else None


def _float(value: float | None, kind: Any) -> float | None:
    name = kind if isinstance(kind, str) else getattr(kind, "name", "FINITE")
    if name == "INF_POS":
        return math.inf
    if name == "INF_NEG":
        return -math.inf
    if name == "NAN":
        return math.nan
    return value


def _json(text: str) -> Any:
    """An attribute's JSON, as Optuna wrote it (``json.dumps``: NaN and Infinity included, which
    only the slower standard parser reads)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


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
    """A page of trials in number order, selected and paged in SQL."""
    trial = om.TrialModel.__table__
    query = select(trial.c.trial_id).where(trial.c.study_id == optuna_study_id)
    if state is not None:
        query = query.where(trial.c.state == TrialState[state])
    if numbers is not None:
        query = query.where(trial.c.number.in_(numbers))
    query = query.order_by(trial.c.number).offset(offset).limit(limit)
    return trials_by_id(session, list(session.scalars(query)), with_curves=with_curves)


def trials_by_id(session: Session, ids: list[int], *, with_curves: bool = False) -> list[TrialView]:
    """The trials ``ids``, in that order: one query for the trials, one for all their attributes.

    Columns are read as plain rows, not ORM objects: building Optuna's models for 50 trials and
    their several hundred attribute rows cost more than the queries themselves.
    """
    if not ids:
        return []
    trial = om.TrialModel.__table__
    views: dict[int, TrialView] = {
        trial_id: TrialView(
            number=number,
            state=trial_state.name,
            values=None,
            params={},
            user_attrs={},
            datetime_start=start,
            datetime_complete=complete,
            trial_id=trial_id,
        )
        for trial_id, number, trial_state, start, complete in session.execute(
            select(
                trial.c.trial_id,
                trial.c.number,
                trial.c.state,
                trial.c.datetime_start,
                trial.c.datetime_complete,
            ).where(among(session, trial.c.trial_id, ids))
        ).all()
    }

    values: dict[int, dict[int, float | None]] = {}
    for trial_id, kind, key, number, text in session.execute(
        _attributes(session, ids, with_curves)
    ).all():
        view = views[trial_id]
        match kind:
            case "p":
                view.params[key] = _distribution(text).to_external_repr(number)
            case "v":
                values.setdefault(trial_id, {})[int(key)] = _float(number, text)
            case "u":
                view.user_attrs[key] = _json(text)
            case "i":
                view.intermediate_values[int(key)] = _float(number, text)
            case "s":
                view.system_attrs[key] = _json(text)
    for trial_id, by_objective in values.items():
        views[trial_id].values = [by_objective[k] for k in sorted(by_objective)]
    for view in views.values():
        if len(view.intermediate_values) > 1:
            view.intermediate_values = dict(sorted(view.intermediate_values.items()))
        elif with_curves and not view.intermediate_values:
            view.intermediate_values = dict(val_curve(view.user_attrs))
    return [views[i] for i in ids if i in views]


def _attributes(session: Session, ids: list[int], with_curves: bool) -> Any:
    """Every attribute row of the trials ``ids`` in one statement (one round trip, not five):
    (trial id, kind, key, number, text) with kind p(aram), v(alue), u(ser attribute),
    i(ntermediate value) or s(ystem attribute); without ``with_curves`` no intermediate value
    and of the system attributes only ``FAILED_TRIAL_ATTR`` (a retry's ``retried_from``) and
    ``PATH_OF_ATTR`` (a λ path's further point's ``path_of``)."""

    def part(model: Any, kind: str, key: Any, number: Any, text: Any) -> Any:
        table = model.__table__
        return select(
            table.c.trial_id,
            literal(kind, String).label("kind"),
            cast(key, String).label("key"),
            cast(number, Float).label("number"),
            cast(text, Text).label("text"),
        ).where(among(session, table.c.trial_id, ids))

    def column(model: Any, name: str) -> Any:
        return model.__table__.c[name]

    params, values = om.TrialParamModel, om.TrialValueModel
    users, curves, systems = (
        om.TrialUserAttributeModel,
        om.TrialIntermediateValueModel,
        om.TrialSystemAttributeModel,
    )
    parts = [
        part(
            params,
            "p",
            column(params, "param_name"),
            column(params, "param_value"),
            column(params, "distribution_json"),
        ),
        part(
            values,
            "v",
            column(values, "objective"),
            column(values, "value"),
            column(values, "value_type"),
        ),
        part(users, "u", column(users, "key"), null(), column(users, "value_json")),
    ]
    system = part(systems, "s", column(systems, "key"), null(), column(systems, "value_json"))
    if with_curves:
        parts.append(
            part(
                curves,
                "i",
                column(curves, "step"),
                column(curves, "intermediate_value"),
                column(curves, "intermediate_value_type"),
            )
        )
        parts.append(system)
    else:  # of the system attributes (a linear trial's weights among them) only the marks
        parts.append(system.where(column(systems, "key").in_((FAILED_TRIAL_ATTR, PATH_OF_ATTR))))
    return union_all(*parts)


_BEST_VIEWS: LRUCache[tuple[str, int, int], TrialView] = LRUCache(maxsize=256)
_BEST_VIEWS_LOCK = threading.Lock()


def study_reads(
    session: Session,
    optuna_study_id: int,
    *,
    key: str,
    direction: str,
    quiet: bool = False,
    select: str = "best",
    relax_margin: float | None = None,
) -> tuple[dict[str, int], TrialView | None, str | None]:
    """Counts by state, the best feasible COMPLETE trial (with its curve) from the index, or
    the trial ``relax_margin`` and ``select: one_se`` chose in its place, and why (a note).

    ``key`` is regtune's study id; ``quiet``: see ``StudyIndex.current``. A COMPLETE trial never
    changes, so the best trial's view is remembered by its number. Callers must not modify the
    view.
    """
    index = study_index(key, optuna_study_id)
    with index.current(session, quiet=quiet):
        counts = index.counts()
        best = index.update_best(session, direction)
        skipped = index.diverged_note()
        if best is None:
            return counts, None, skipped
        kept = index.relax_margin(session, direction, relax_margin) if relax_margin else None
        number = best.number if kept is None else kept.number
        one_se = index.one_se(session, direction, number) if select == "one_se" else None
    number = number if one_se is None else one_se.number
    notes = [n for n in (skipped, kept and kept.note, one_se and one_se.note) if n]
    cache_key = (key, optuna_study_id, number)
    with _BEST_VIEWS_LOCK:
        view = _BEST_VIEWS.get(cache_key)
    if view is None:
        view = get_trial(session, optuna_study_id, number)
        if view is not None:
            with _BEST_VIEWS_LOCK:
                _BEST_VIEWS[cache_key] = view
    return counts, view, "; ".join(notes) or None


def stopped_early(session: Session, optuna_study_id: int, *, key: str) -> int:
    """How many COMPLETE trials early stopping ended, of those the index saw (``study_reads``
    brought it up to date): only the trials completed since the last call are read."""
    index = study_index(key, optuna_study_id)
    with index.lock:
        return index.update_stopped_early(session)


def reported_steps(
    session: Session, optuna_study_id: int, *, key: str, quiet: bool = False
) -> dict[str, Reported]:
    """COMPLETE and PRUNED: the trials and the steps they reported in all, from the index
    brought up to date (``quiet``: see ``StudyIndex.current``): only the trials finished since
    the last call are counted."""
    index = study_index(key, optuna_study_id)
    with index.current(session, quiet=quiet):
        return index.reported(session)


def failures(optuna_study_id: int, *, key: str) -> Failures:
    """What became of the study's FAIL trials, of those the index saw (``study_reads`` brought it
    up to date): no statement of its own."""
    index = study_index(key, optuna_study_id)
    with index.lock:
        return index.failures()


def page_ids(
    session: Session,
    optuna_study_id: int,
    *,
    key: str,
    state: str | None = None,
    offset: int = 0,
    limit: int = 50,
    quiet: bool = False,
) -> tuple[int, list[int]]:
    """How many trials (of ``state``) the study has, and the trial ids of the page."""
    index = study_index(key, optuna_study_id)
    with index.current(session, quiet=quiet):
        return index.total(state), index.page(state, offset, limit)


def settled_page_ids(
    optuna_study_id: int, *, key: str, state: str | None, offset: int, limit: int
) -> tuple[int, list[int]] | None:
    """``page_ids`` of a settled index (``StudyIndex.if_settled``) without the database or any
    wait; None otherwise."""
    index = known_index(key, optuna_study_id)
    if index is None:
        return None
    with index.if_settled() as settled:
        return (index.total(state), index.page(state, offset, limit)) if settled else None


def settled_study_reads(
    optuna_study_id: int, *, key: str, direction: str, relax_margin: float | None = None
) -> tuple[dict[str, int], TrialView | None] | None:
    """``study_reads`` of a settled index whose best trial (and ``relax_margin``'s choice, if
    the study has one) is known, without the database or any wait; None otherwise."""
    index = known_index(key, optuna_study_id)
    if index is None:
        return None
    with index.if_settled() as settled:
        if not settled or not index.best_known(direction):
            return None
        counts, best = index.counts(), index.best
        kept = None
        if relax_margin and best is not None:
            kept = index.known_relax_margin()
            if kept is None:  # not chosen since the last completed trial: the database decides
                return None
    if best is None:
        return counts, None
    number = best.number if kept is None else kept.number
    with _BEST_VIEWS_LOCK:
        view = _BEST_VIEWS.get((key, optuna_study_id, number))
    return (counts, view) if view is not None else None


def get_trial(session: Session, optuna_study_id: int, number: int) -> TrialView | None:
    found = list_trials(session, optuna_study_id, numbers=[number], limit=1, with_curves=True)
    return found[0] if found else None
