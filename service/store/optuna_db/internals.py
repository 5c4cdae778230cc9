"""The one module that touches Optuna's private API; tests/service/test_optuna_contract.py
checks every name, signature and column used here against the installed Optuna.

- ``om``: Optuna's SQLAlchemy models (its tables), for reads and counts in SQL.
- ``storage_of``, ``study_id_of``, ``trial_id_of``, ``engine_of``: what a ``Study`` or ``Trial``
  keeps privately (its storage, its row ids, the database under them).
- ``trial_started_utc``, ``stale_trial_ids``, ``is_pareto_front``: private helpers it has.
- ``add_finished_trials``, ``add_to_running_trial``: finished trials, and a running trial's
  params and attributes, written as Optuna's rows inside the caller's transaction (a λ path's
  points, with the release of their claims, in one commit).
- ``OneStatementTrialWrites``: per-epoch reports and suggested parameters written in one SQL
  statement each. Optuna's RDBStorage writes an intermediate value as three statements in an
  ORM session (read the trial to check it is still running, look the step up, insert or update)
  and a parameter as two; here each is one conditional ``INSERT … SELECT … WHERE the trial is
  not finished`` (an upsert for reports): the same rows, the same errors (``KeyError`` for an
  unknown trial, ``UpdateFinishedTrialError`` for a finished one), a third of the round trips.
  SQLite and PostgreSQL only; any other database keeps Optuna's own code.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from optuna import distributions
from optuna.artifacts._protocol import ArtifactStore
from optuna.exceptions import StorageInternalError
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages._cached_storage import _CachedStorage
from optuna.storages._rdb import models as _optuna_models
from optuna.study._multi_objective import _is_pareto_front
from optuna.trial import BaseTrial, FrozenTrial, TrialState
from sqlalchemy import Engine, exists, func, insert, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

__all__ = [
    "ArtifactStore",
    "OneStatementTrialWrites",
    "add_finished_trials",
    "add_to_running_trial",
    "backend_of",
    "engine_of",
    "is_pareto_front",
    "note_report",
    "om",
    "set_user_attrs",
    "stale_trial_ids",
    "storage_of",
    "study_id_of",
    "trial_completed_utc",
    "trial_id_of",
    "trial_started_utc",
    "write_reports",
]

om: Any = _optuna_models
"""Optuna's SQLAlchemy models (untyped)."""


OPTUNA_TRIAL_LOGGER = "optuna.study._optimize"
"""Where Optuna logs "Trial N failed … because of the following error" (with a traceback)."""


def storage_of(study: optuna.Study) -> BaseStorage:
    """The storage a study reads and writes through (Optuna wraps an RDBStorage in a cache)."""
    return study._storage


def study_id_of(study: optuna.Study) -> int:
    """The study's row id in Optuna's ``studies`` table."""
    return int(study._study_id)


def trial_id_of(trial: BaseTrial) -> int:
    """The trial's row id in Optuna's ``trials`` table (a live or a frozen trial)."""
    return int(trial._trial_id)  # type: ignore[attr-defined]


def engine_of(study: optuna.Study) -> Engine:
    """The engine of the database a study is stored in."""
    storage = study._storage
    if isinstance(storage, _CachedStorage):
        storage = storage._backend
    if not isinstance(storage, RDBStorage):
        raise TypeError(f"study {study.study_name!r} is not in a database: {type(storage)}")
    return storage.engine


def add_finished_trials(session: Session, study_id: int, trials: list[FrozenTrial]) -> list[int]:
    """Write ``trials`` (finished, as ``optuna.trial.create_trial`` makes them) into the study
    in ``session``'s transaction, numbered after every trial before them → their trial ids.

    The rows Optuna's own writer makes, in a handful of multi-row inserts: Optuna's
    ``add_trials`` commits each trial on its own, and writes each attribute with a read and a
    write. Numbering holds the lock Optuna takes on the study's row to number trials (a
    session on the same database as the study's storage, e.g. regtune's)."""
    if not trials:
        return []
    for trial in trials:
        if not trial.state.is_finished():
            raise ValueError(f"only finished trials are written here, got {trial.state.name}")
    session.execute(
        select(om.StudyModel.study_id).where(om.StudyModel.study_id == study_id).with_for_update()
    )
    trial_table = om.TrialModel
    base = session.scalar(select(func.count()).where(trial_table.study_id == study_id)) or 0
    rows = [
        trial_table(
            study_id=study_id,
            number=base + k,
            state=trial.state,
            datetime_start=trial.datetime_start,
            datetime_complete=trial.datetime_complete,
        )
        for k, trial in enumerate(trials)
    ]
    session.add_all(rows)
    session.flush()
    ids = [int(row.trial_id) for row in rows]
    batches: dict[Any, list[dict[str, Any]]] = {}
    for trial_id, trial in zip(ids, trials, strict=True):
        for model, found in _rows(trial_id, trial).items():
            batches.setdefault(model, []).extend(found)
    for model, batch in batches.items():
        session.execute(insert(model), batch)
    return ids


def add_to_running_trial(session: Session, trial_id: int, trial: FrozenTrial) -> None:
    """Give the running trial ``trial_id`` the params, attributes and reports of ``trial`` in
    ``session``'s transaction (a λ path's first point: the rest of its points are written in
    the same commit), attributes it has already replaced; its state and value are left to
    Optuna's ``tell``."""
    insert_into: Any = DIALECTS[session.get_bind().dialect.name]
    for model, batch in _rows(trial_id, trial).items():
        if model is om.TrialValueModel:
            continue
        statement = insert_into(model)
        if model in (om.TrialUserAttributeModel, om.TrialSystemAttributeModel):
            statement = statement.on_conflict_do_update(
                index_elements=["trial_id", "key"],
                set_={"value_json": statement.excluded.value_json},
            )
        else:
            statement = statement.on_conflict_do_nothing()
        session.execute(statement, batch)


def _rows(trial_id: int, trial: FrozenTrial) -> dict[Any, list[dict[str, Any]]]:
    """The rows of Optuna's tables that hold ``trial``'s params, values, attributes and
    reports, by model (those it has none of left out)."""
    rows: dict[Any, list[dict[str, Any]]] = {
        om.TrialParamModel: [
            {
                "trial_id": trial_id,
                "param_name": name,
                "param_value": trial.distributions[name].to_internal_repr(value),
                "distribution_json": distributions.distribution_to_json(trial.distributions[name]),
            }
            for name, value in trial.params.items()
        ],
        om.TrialValueModel: [
            dict(
                zip(
                    ("value", "value_type"),
                    om.TrialValueModel.value_to_stored_repr(value),
                    strict=True,
                ),
                trial_id=trial_id,
                objective=objective,
            )
            for objective, value in enumerate(trial.values or [])
        ],
        om.TrialIntermediateValueModel: [
            dict(
                zip(
                    ("intermediate_value", "intermediate_value_type"),
                    om.TrialIntermediateValueModel.intermediate_value_to_stored_repr(value),
                    strict=True,
                ),
                trial_id=trial_id,
                step=step,
            )
            for step, value in trial.intermediate_values.items()
        ],
    }
    for model, attrs in (
        (om.TrialUserAttributeModel, trial.user_attrs),
        (om.TrialSystemAttributeModel, trial.system_attrs),
    ):
        rows[model] = [
            {"trial_id": trial_id, "key": key, "value_json": json.dumps(value)}
            for key, value in attrs.items()
        ]
    return {model: found for model, found in rows.items() if found}


def trial_started_utc() -> Any:
    """The column of a trial's start time in UTC (``datetime_start`` is local time)."""
    return om.TrialModel._datetime_start_utc


def trial_completed_utc() -> Any:
    """The column of a trial's completion time in UTC."""
    return om.TrialModel._datetime_complete_utc


def stale_trial_ids(storage: RDBStorage, study_id: int) -> list[int]:
    """RUNNING trials of ``study_id`` whose heartbeat is older than the grace period."""
    return list(storage._get_stale_trial_ids(study_id))


def is_pareto_front(points: np.ndarray) -> np.ndarray:
    """Which rows of ``points`` (all objectives minimized) are non-dominated."""
    return np.asarray(_is_pareto_front(points, False))


def backend_of(trial: optuna.Trial) -> BaseStorage:
    """The storage under a live trial's cache (where regtune's one-statement writes live)."""
    storage = trial.storage
    return storage._backend if isinstance(storage, _CachedStorage) else storage


def note_report(trial: optuna.Trial, step: int, value: float) -> bool:
    """``trial.report(value, step)`` as the trial itself sees it (its pruner reads it at once);
    True: its row is left to ``write_reports``, which writes several in one transaction; False:
    the storage cannot batch, and ``Trial.report`` wrote it now."""
    if not isinstance(backend_of(trial), OneStatementTrialWrites):
        trial.report(value, step)
        return False
    trial._cached_frozen_trial.intermediate_values[step] = float(value)
    return True


def write_reports(reports: Sequence[tuple[optuna.Trial, int, float]]) -> None:
    """The rows of reports ``note_report`` left (every trial on one batching storage), in one
    transaction."""
    if not reports:
        return
    backend = backend_of(reports[0][0])
    assert isinstance(backend, OneStatementTrialWrites), "note_report wrote the others"
    backend.set_trials_intermediate_values(
        [(trial_id_of(trial), step, float(value)) for trial, step, value in reports]
    )


def set_user_attrs(trial: optuna.Trial, attrs: Mapping[str, Any]) -> None:
    """``trial.set_user_attr`` for every item, in one transaction where the storage can."""
    backend = backend_of(trial)
    if not isinstance(backend, OneStatementTrialWrites):
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        return
    backend.set_trial_user_attrs(trial_id_of(trial), attrs)
    trial._cached_frozen_trial.user_attrs.update(attrs)


log = logging.getLogger(__name__)

UPDATABLE = (TrialState.RUNNING, TrialState.WAITING)
DIALECTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def _updatable(trial_id: int) -> Any:
    trials = om.TrialModel.__table__
    return exists().where(trials.c.trial_id == trial_id, trials.c.state.in_(UPDATABLE))


class OneStatementTrialWrites(RDBStorage):
    """RDBStorage with ``report`` and ``suggest_*`` writes of one statement each."""

    engine: Engine

    def _fast(self) -> Any:
        return DIALECTS.get(self.engine.dialect.name)

    def _not_updatable(self, trial_id: int) -> None:
        """Raise what Optuna raises when a write found no running trial."""
        trials = om.TrialModel.__table__
        with self.engine.connect() as connection:
            state = connection.scalar(select(trials.c.state).where(trials.c.trial_id == trial_id))
        if state is None:
            raise KeyError(f"Record does not exist: trial {trial_id}")
        self.check_trial_is_updatable(trial_id, state)
        raise StorageInternalError(f"trial {trial_id} ({state.name}) was not written")

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        self.set_trials_intermediate_values([(trial_id, step, intermediate_value)])

    def set_trials_intermediate_values(self, reports: Sequence[tuple[int, int, float]]) -> None:
        """(trial, step, value) reports of several trials in one transaction: the members of a
        fused pass report an epoch together."""
        insert = self._fast()
        if insert is None:
            for trial_id, step, value in reports:
                super().set_trial_intermediate_value(trial_id, step, value)
            return
        if len(reports) == 1:
            trial_id, step, value = reports[0]
            try:
                with self.engine.begin() as connection:
                    written = connection.execute(self._report(insert, trial_id, step, value))
                    found = written.first() is not None
            except SQLAlchemyError as exc:
                raise StorageInternalError(f"could not report step {step}: {exc}") from exc
            if not found:
                self._not_updatable(trial_id)
            return
        model = om.TrialIntermediateValueModel
        rows = []
        for trial_id, step, value in reports:
            stored, kind = model.intermediate_value_to_stored_repr(value)
            rows.append(
                {
                    "trial_id": trial_id,
                    "step": step,
                    "intermediate_value": stored,
                    "intermediate_value_type": kind,
                }
            )
        self._upsert(model.__table__, rows, ["trial_id", "step"])

    def set_trial_user_attrs(self, trial_id: int, attrs: Mapping[str, Any]) -> None:
        """Several user attributes of one trial in one statement (Optuna writes one per
        transaction): the same rows, the same error for a finished trial."""
        if self._fast() is None:
            for key, value in attrs.items():
                super().set_trial_user_attr(trial_id, key, value)
            return
        rows = [
            {"trial_id": trial_id, "key": key, "value_json": json.dumps(value)}
            for key, value in attrs.items()
        ]
        self._upsert(om.TrialUserAttributeModel.__table__, rows, ["trial_id", "key"])

    def _upsert(self, table: Any, rows: list[dict[str, Any]], keys: list[str]) -> None:
        """Insert or update ``rows`` of running trials in one transaction: one read of which
        trials may still be written, one multi-row upsert; a finished trial's rows are not
        written and its error raised, as Optuna raises it."""
        if not rows:
            return
        trials = om.TrialModel.__table__
        ids = {row["trial_id"] for row in rows}
        try:
            with self.engine.begin() as connection:
                live = set(
                    connection.scalars(
                        select(trials.c.trial_id).where(
                            trials.c.trial_id.in_(ids), trials.c.state.in_(UPDATABLE)
                        )
                    )
                )
                kept = [row for row in rows if row["trial_id"] in live]
                if kept:
                    statement = self._fast()(table).values(kept)
                    columns = [c for c in kept[0] if c not in keys]
                    statement = statement.on_conflict_do_update(
                        index_elements=keys,
                        set_={c: getattr(statement.excluded, c) for c in columns},
                    )
                    connection.execute(statement)
        except SQLAlchemyError as exc:
            raise StorageInternalError(f"could not write {table.name}: {exc}") from exc
        for trial_id in sorted(ids - live):
            self._not_updatable(trial_id)

    def _report(self, insert: Any, trial_id: int, step: int, intermediate_value: float) -> Any:
        model = om.TrialIntermediateValueModel
        table = model.__table__
        value, kind = model.intermediate_value_to_stored_repr(intermediate_value)
        row = select(
            literal(trial_id),
            literal(step),
            literal(value, type_=table.c.intermediate_value.type),
            literal(kind, type_=table.c.intermediate_value_type.type),
        ).where(_updatable(trial_id))
        statement = insert(table).from_select(
            ["trial_id", "step", "intermediate_value", "intermediate_value_type"], row
        )
        statement = statement.on_conflict_do_update(
            index_elements=["trial_id", "step"],
            set_={
                "intermediate_value": statement.excluded.intermediate_value,
                "intermediate_value_type": statement.excluded.intermediate_value_type,
            },
        )
        return statement.returning(table.c.trial_id)

    def _set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: distributions.BaseDistribution,
        previous_distribution: distributions.BaseDistribution | None,
    ) -> None:
        insert = self._fast()
        if insert is None or previous_distribution is None:
            # The first parameter of a name in this process: Optuna looks up the study's
            # earlier distribution to check compatibility; later ones come from its cache.
            super()._set_trial_param(
                trial_id, param_name, param_value_internal, distribution, previous_distribution
            )
            return
        distributions.check_distribution_compatibility(previous_distribution, distribution)
        table = om.TrialParamModel.__table__
        row = select(
            literal(trial_id),
            literal(param_name, type_=table.c.param_name.type),
            literal(param_value_internal, type_=table.c.param_value.type),
            literal(
                distributions.distribution_to_json(distribution),
                type_=table.c.distribution_json.type,
            ),
        ).where(_updatable(trial_id))
        statement = insert(table).from_select(
            ["trial_id", "param_name", "param_value", "distribution_json"], row
        )
        try:
            with self.engine.begin() as connection:
                written = connection.execute(statement.returning(table.c.trial_id)).first()
        except IntegrityError:
            log.debug("parameter %s of trial %d was already set", param_name, trial_id)
            return  # Optuna ignores a duplicate parameter the same way
        except SQLAlchemyError as exc:
            raise StorageInternalError(f"could not set parameter {param_name}: {exc}") from exc
        if written is None:
            self._not_updatable(trial_id)
