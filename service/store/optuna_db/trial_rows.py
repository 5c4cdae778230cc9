"""Optuna's reads and writes of every trial, as its RDBStorage does them, in SQLAlchemy Core.

Optuna's ``_get_trials`` loads ORM objects (the trials, then their params, values, attributes
and reports by ``selectinload``) and builds a ``FrozenTrial`` from each: the same statements
here, one query per table, the ids of each batch of trials in an ``IN`` list as Optuna's
``selectinload`` sends them, and the same ``FrozenTrial`` built from plain rows, without the ORM's
identity map and attribute instrumentation that made most of a worker's CPU per trial. Every
statement is built once per process and only its parameters change (SQLAlchemy's compiled cache).
``create_trial`` is Optuna's creation of a new RUNNING trial without an ORM session: the study's
row locked, the trial inserted and numbered in one statement (``next_number``: Optuna's number,
read without walking the study);
``best_trial_id`` and ``study_system_attrs`` are the two reads of the line Optuna logs when a
trial finishes ("… Best is trial N …", with the study's metric names).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Container, Iterable
from datetime import UTC, datetime
from functools import cache
from typing import Any

import orjson
from optuna import distributions
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import (
    Connection,
    Select,
    asc,
    bindparam,
    case,
    desc,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.exc import OperationalError

from regtune.service.store.optuna_db.attrs import COEFFICIENTS_ATTR, CONSTRAINTS_ATTR

BATCH = 500
"""Trial ids per ``IN`` list of the child queries: ``selectinload``'s batch."""
TOO_MANY_IDS = "too many SQL variables"
"""SQLite's error for an ``IN`` list over its variable limit."""
NOT_FOUND = "Record does not exist."
"""Optuna's ``KeyError`` message for an unknown study."""


@cache
def _statements(tables: Any) -> dict[str, Any]:
    """The statements of one read, built once (``tables``: Optuna's models module)."""
    studies = tables.StudyModel.__table__
    params = tables.TrialParamModel.__table__
    values = tables.TrialValueModel.__table__
    user = tables.TrialUserAttributeModel.__table__
    system = tables.TrialSystemAttributeModel.__table__
    reports = tables.TrialIntermediateValueModel.__table__
    ids: Any = bindparam("ids", expanding=True)

    def children(table: Any, *columns: Any, order: Any) -> Select[Any]:
        return select(table.c.trial_id, *columns).where(table.c.trial_id.in_(ids)).order_by(order)

    trials = tables.TrialModel.__table__
    kinds = tables.TrialValueModel.TrialValueType
    kind = case(
        (values.c.value_type == kinds.INF_NEG, -1),
        (values.c.value_type == kinds.FINITE, 0),
        (values.c.value_type == kinds.INF_POS, 1),
    )
    ranked = (
        select(trials.c.trial_id)
        .join(values, values.c.trial_id == trials.c.trial_id)
        .where(
            trials.c.study_id == bindparam("of_study"),
            trials.c.state == TrialState.COMPLETE,
            values.c.objective == 0,
        )
    )
    best = ranked.limit(1)
    constraint = or_(system.c.key == CONSTRAINTS_ATTR, system.c.key.like(f"{CONSTRAINTS_ATTR}:%"))
    constraints = select(system.c.trial_id, system.c.key, system.c.value_json).where(constraint)
    study_attrs = tables.StudySystemAttributeModel.__table__
    last = (  # the number of the study's latest trial (see ``next_number``)
        select(trials.c.number)
        .where(trials.c.study_id == bindparam("of_study"))
        .order_by(trials.c.trial_id.desc())
        .limit(1)
    )
    system_attrs = children(
        system, system.c.key, system.c.value_json, order=system.c.trial_system_attribute_id
    )
    return {
        "lowest": best.order_by(asc(kind), asc(values.c.value)),
        "highest": best.order_by(desc(kind), desc(values.c.value)),
        # every COMPLETE trial, best first, ties in trial order (as Optuna's min and max pick)
        "lowest_all": ranked.order_by(asc(kind), asc(values.c.value), asc(trials.c.trial_id)),
        "highest_all": ranked.order_by(desc(kind), desc(values.c.value), asc(trials.c.trial_id)),
        "constraints": constraints.where(system.c.trial_id == bindparam("of_trial")),
        "study_constraints": constraints.join(trials, trials.c.trial_id == system.c.trial_id).where(
            trials.c.study_id == bindparam("of_study"), trials.c.state == TrialState.COMPLETE
        ),
        "study_attrs": select(study_attrs.c.key, study_attrs.c.value_json)
        .where(study_attrs.c.study_id == bindparam("of_study"))
        .order_by(study_attrs.c.study_system_attribute_id),
        "study": select(studies.c.study_id).where(studies.c.study_id == bindparam("of_study")),
        "lock": select(studies.c.study_id)
        .where(studies.c.study_id == bindparam("of_study"))
        .with_for_update(),
        "new": insert(trials)
        .values(
            number=func.coalesce(last.scalar_subquery() + 1, 0),
            study_id=bindparam("of_study"),
            state=TrialState.RUNNING,
            datetime_start=bindparam("started", type_=trials.c.datetime_start.type),
            datetime_complete=None,
        )
        .returning(trials.c.trial_id, trials.c.number),
        "last": last,
        "params": children(
            params,
            params.c.param_name,
            params.c.param_value,
            params.c.distribution_json,
            order=params.c.param_id,
        ),
        "values": children(
            values,
            values.c.objective,
            values.c.value,
            values.c.value_type,
            order=values.c.objective,
        ),
        "user": children(user, user.c.key, user.c.value_json, order=user.c.trial_user_attribute_id),
        "system": system_attrs,
        "system_sampled": system_attrs.where(system.c.key != COEFFICIENTS_ATTR),
        "reports": children(
            reports,
            reports.c.step,
            reports.c.intermediate_value,
            reports.c.intermediate_value_type,
            order=reports.c.trial_intermediate_value_id,
        ),
    }


def _trials_query(
    tables: Any, study_id: int, states: Container[TrialState] | None, where: list[Any]
) -> Select[Any]:
    trials = tables.TrialModel.__table__
    query = select(
        trials.c.trial_id,
        trials.c.number,
        trials.c.state,
        trials.c.datetime_start,
        trials.c.datetime_complete,
    ).where(trials.c.study_id == study_id, *where)
    if states is not None:
        assert isinstance(states, Iterable)
        query = query.where(trials.c.state.in_(list(states)))
    return query.order_by(trials.c.trial_id)


_LONG_DIGITS = re.compile(r"\d{19}")
"""A run of digits that may be an integer past 64 bits, which orjson would read as a float."""


def attr_json(value: Any) -> str:
    """An attribute's JSON as Optuna stores it, written by orjson (several times the speed of
    Python's json on a path's hundreds of attributes; compact, UTF-8), or by Python's json where
    orjson would write something else: for ``NaN`` and ``Infinity`` (orjson writes ``null``:
    any value with a ``null`` goes this way), keys that are not strings, integers past 64 bits
    and types orjson leaves to the caller (numpy scalars)."""
    try:
        written = orjson.dumps(value)
    except TypeError:
        return json.dumps(value)
    if b"null" in written:
        return json.dumps(value)
    return written.decode()


def attr_value(text: str) -> Any:
    """An attribute's stored JSON, parsed by orjson (several times the speed of Python's json on
    the short values attributes hold: a trial read parses a score of them), or by Python's json
    where only it reads it as written: ``NaN`` and ``Infinity`` (which ``json.dumps`` writes) and
    integers past 64 bits."""
    if len(text) < 19 or not _LONG_DIGITS.search(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def read_trials(
    connection: Connection,
    tables: Any,
    study_id: int,
    states: Container[TrialState] | None,
    included_trial_ids: set[int],
    trial_id_greater_than: int,
    excluded_trial_ids: Collection[int] = (),
    *,
    for_sampler: bool = False,
) -> list[FrozenTrial]:
    """``RDBStorage._get_trials``: the study's trials in ``states`` (all if None) whose id is
    greater than ``trial_id_greater_than`` or in ``included_trial_ids``, and not in
    ``excluded_trial_ids``, by id; ``KeyError`` if the study does not exist (asked only when
    nothing was excluded).

    ``for_sampler``: what samplers and pruners read of a finished trial, its state, params,
    values, reports and system attributes (constraints, pruners' rungs), without its user
    attributes and coefficients (most of a trial's rows); unfinished trials whole."""
    statements = _statements(tables)
    included = {t for t in included_trial_ids if t <= trial_id_greater_than}
    trial_id = tables.TrialModel.__table__.c.trial_id
    where: list[Any] = []
    if included and trial_id_greater_than > -1:
        where = [or_(trial_id.in_(sorted(included)), trial_id > trial_id_greater_than)]
    elif trial_id_greater_than > -1:
        where = [trial_id > trial_id_greater_than]
    excluded = set(excluded_trial_ids)
    if excluded:
        where.append(trial_id.not_in(sorted(excluded)))
    try:
        rows = connection.execute(_trials_query(tables, study_id, states, where)).all()
    except OperationalError as exc:
        # Too many ids for one IN list (SQLite's variable limit): Optuna filters in Python.
        if TOO_MANY_IDS not in str(exc):
            raise
        rows = [
            row
            for row in connection.execute(_trials_query(tables, study_id, states, [])).all()
            if (row.trial_id in included or row.trial_id > trial_id_greater_than)
            and row.trial_id not in excluded
        ]
    # the study is asked for only when no trial was found (a trial has its study)
    lost = not rows and not excluded
    if lost and connection.scalar(statements["study"], {"of_study": study_id}) is None:
        raise KeyError(NOT_FOUND)
    found: dict[int, dict[str, Any]] = {
        row.trial_id: {
            "row": row,
            "params": [],
            "values": [],
            "user": {},
            "system": {},
            "reports": {},
        }
        for row in rows
    }
    ids = list(found)
    users = [row.trial_id for row in rows if not row.state.is_finished()] if for_sampler else ids
    system = statements["system_sampled" if for_sampler else "system"]
    for start in range(0, len(ids), BATCH):
        batch = {"ids": ids[start : start + BATCH]}
        for row in connection.execute(statements["params"], batch):
            found[row.trial_id]["params"].append(row)
        for row in connection.execute(statements["values"], batch):
            found[row.trial_id]["values"].append(row)
        for row in connection.execute(system, batch):
            found[row.trial_id]["system"][row.key] = attr_value(row.value_json)
        for row in connection.execute(statements["reports"], batch):
            found[row.trial_id]["reports"][row.step] = (
                tables.TrialIntermediateValueModel.stored_repr_to_intermediate_value(
                    row.intermediate_value, row.intermediate_value_type
                )
            )
    for start in range(0, len(users), BATCH):
        batch = {"ids": users[start : start + BATCH]}
        for row in connection.execute(statements["user"], batch):
            found[row.trial_id]["user"][row.key] = attr_value(row.value_json)
    return [_frozen(tables, parts) for parts in found.values()]


def _local(stored: datetime | None) -> datetime | None:
    """A stored trial time (naive UTC) as Optuna's trials carry it (naive local time)."""
    return None if stored is None else stored.replace(tzinfo=UTC).astimezone().replace(tzinfo=None)


def _frozen(tables: Any, parts: dict[str, Any]) -> FrozenTrial:
    """``RDBStorage._build_frozen_trial_from_trial_model`` from plain rows."""
    row = parts["row"]
    values: list[float] | None = None
    if parts["values"]:
        values = [0.0 for _ in parts["values"]]
        for value in parts["values"]:
            values[value.objective] = tables.TrialValueModel.stored_repr_to_value(
                value.value, value.value_type
            )
    dists = {
        p.param_name: distributions.json_to_distribution(p.distribution_json)
        for p in parts["params"]
    }
    return FrozenTrial(
        number=row.number,
        state=row.state,
        value=None,
        values=values,
        datetime_start=_local(row.datetime_start),
        datetime_complete=_local(row.datetime_complete),
        params={
            p.param_name: dists[p.param_name].to_external_repr(p.param_value)
            for p in parts["params"]
        },
        distributions=dists,
        user_attrs=parts["user"],
        system_attrs=parts["system"],
        intermediate_values=parts["reports"],
        trial_id=row.trial_id,
    )


def next_number(connection: Connection, tables: Any, study_id: int) -> int:
    """The number of the study's next trial, read under the lock on the study's row.

    Optuna numbers a new trial by counting the study's trials before it, which walks the whole
    study (0.45 ms at 10,000 trials on SQLite, and growing); under that lock every trial got its
    number so, so the number after the study's latest trial's is the same count, read from one
    index entry (an index of the study's trials by id). ``create_trial`` reads it inside its
    INSERT: SQLite takes no lock for ``FOR UPDATE``, only for a write, so a read before the
    insert could race another process's new trial."""
    last = connection.scalar(_statements(tables)["last"], {"of_study": study_id})
    return 0 if last is None else int(last) + 1


def create_trial(connection: Connection, tables: Any, study_id: int) -> FrozenTrial:
    """``RDBStorage._create_new_trial`` without a template, in the caller's transaction: a
    RUNNING trial started now, numbered by the study's trials before it (under the lock on the
    study's row, as Optuna numbers them); ``KeyError`` if the study does not exist."""
    statements = _statements(tables)
    study = {"of_study": study_id}
    if connection.scalar(statements["lock"], study) is None:
        raise KeyError(NOT_FOUND)
    stored = datetime.now().astimezone(UTC).replace(tzinfo=None)
    trial_id, number = connection.execute(statements["new"], {**study, "started": stored}).one()
    return FrozenTrial(
        number=int(number),
        state=TrialState.RUNNING,
        value=None,
        values=None,
        datetime_start=_local(stored),
        datetime_complete=None,
        params={},
        distributions={},
        user_attrs={},
        system_attrs={},
        intermediate_values={},
        trial_id=trial_id,
    )


def best_trial_id(connection: Connection, tables: Any, study_id: int, direction: Any) -> int:
    """``RDBStorage._get_best_trial_id`` as Optuna's ``Study.best_trial`` reads it: the COMPLETE
    trial with the best first value among those within their constraints (``ValueError`` if no
    trial is COMPLETE; the best value's when none is within them, and ``best_trial`` then says
    no trial is feasible). optuna-dashboard's "Best Trial" is this pick: Optuna's own storage
    gives the best value whatever its constraints."""
    order = "highest" if direction == StudyDirection.MAXIMIZE else "lowest"
    statements = _statements(tables)
    found = connection.scalar(statements[order], {"of_study": study_id})
    if found is None:
        raise ValueError(NOT_FOUND)
    if not _violating(connection.execute(statements["constraints"], {"of_trial": found})):
        return int(found)
    rows = connection.execute(statements["study_constraints"], {"of_study": study_id}).all()
    over = _violating(rows)
    for trial_id in connection.scalars(statements[f"{order}_all"], {"of_study": study_id}):
        if trial_id not in over:
            return int(trial_id)
    return int(found)


def _violating(rows: Iterable[Any]) -> set[int]:
    """The trials of constraint attribute rows (trial id, key, JSON) with a value over 0:
    ``constraints:<name>`` holds one value, the older ``constraints`` a list (or null)."""
    over: set[int] = set()
    for trial_id, key, text in rows:
        value = attr_value(text)
        values = (value or []) if key == CONSTRAINTS_ATTR else [value]
        if any(v > 0 for v in values):
            over.add(int(trial_id))
    return over


def study_system_attrs(connection: Connection, tables: Any, study_id: int) -> dict[str, Any]:
    """``RDBStorage.get_study_system_attrs`` (``KeyError`` for an unknown study)."""
    statements = _statements(tables)
    study = {"of_study": study_id}
    if connection.scalar(statements["study"], study) is None:
        raise KeyError(NOT_FOUND)
    return {
        row.key: json.loads(row.value_json)
        for row in connection.execute(statements["study_attrs"], study)
    }
