"""The one module that touches Optuna's private API; tests/service/test_optuna_contract.py
checks every name, signature and column used here against the installed Optuna.

- ``om``: Optuna's SQLAlchemy models (its tables), for reads and counts in SQL.
- ``storage_of``, ``study_id_of``, ``trial_id_of``, ``engine_of``: what a ``Study`` or ``Trial``
  keeps privately (its storage, its row ids, the database under them).
- ``trial_started_utc``, ``stale_trial_ids``, ``is_pareto_front``: private helpers it has.
- ``KeyedHyperbandPruner``: Hyperband whose brackets follow a stored key, not the study's name.
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

import copy
import json
import logging
import threading
import time
from collections.abc import Callable, Collection, Container, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache, lru_cache
from types import SimpleNamespace
from typing import Any

import numpy as np
import optuna
from cachetools import LRUCache
from optuna import distributions
from optuna.artifacts._protocol import ArtifactStore
from optuna.artifacts._upload import ARTIFACTS_ATTR_PREFIX
from optuna.exceptions import StorageInternalError
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages._cached_storage import _CachedStorage, _StudyInfo
from optuna.storages._rdb import models as _optuna_models
from optuna.study import StudyDirection
from optuna.study._multi_objective import _is_pareto_front
from optuna.trial import BaseTrial, FrozenTrial, TrialState
from sqlalchemy import (
    Connection,
    Engine,
    Executable,
    bindparam,
    exists,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random

from regtune.service.store.optuna_db.running import (
    FLUSH_SECONDS,
    UPDATABLE,
    RunningTrial,
    insert_rows,
)
from regtune.service.store.optuna_db.running import INSERTS as DIALECTS
from regtune.service.store.optuna_db.running import write as write_running
from regtune.service.store.optuna_db.trial_rows import (
    attr_json,
    best_trial_id,
    create_trial,
    next_number,
    read_trials,
    study_system_attrs,
)

__all__ = [
    "ARTIFACTS_ATTR_PREFIX",
    "ArtifactStore",
    "KeyedHyperbandPruner",
    "OneStatementTrialWrites",
    "RunningTrialWrites",
    "WorkerHeartbeats",
    "add_finished_trials",
    "add_to_running_trial",
    "backend_of",
    "engine_of",
    "is_pareto_front",
    "note_report",
    "om",
    "open_trials",
    "params_together",
    "record_trial_heartbeat",
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


def backend_of(storage: BaseStorage) -> BaseStorage:
    """The storage under Optuna's cache (``storage`` itself if it is not cached)."""
    return storage._backend if isinstance(storage, _CachedStorage) else storage


def engine_of(study: optuna.Study) -> Engine:
    """The engine of the database a study is stored in."""
    storage = backend_of(study._storage)
    if not isinstance(storage, RDBStorage):
        raise TypeError(f"study {study.study_name!r} is not in a database: {type(storage)}")
    return storage.engine


def add_finished_trials(session: Session, study_id: int, trials: list[FrozenTrial]) -> list[int]:
    """Write ``trials`` (finished, as ``optuna.trial.create_trial`` makes them) into the study
    in ``session``'s transaction, numbered after every trial before them → their trial ids;
    each of ``trials`` then carries its id and number, as a trial Optuna read back would.

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
    connection = session.connection()
    table = om.TrialModel.__table__
    base = next_number(connection, om, study_id)
    rows = [
        {
            "study_id": study_id,
            "number": base + k,
            "state": trial.state,
            "datetime_start": trial.datetime_start,
            "datetime_complete": trial.datetime_complete,
        }
        for k, trial in enumerate(trials)
    ]
    new = insert(table).returning(table.c.trial_id, sort_by_parameter_order=True)
    ids = [int(i) for i in connection.execute(new, rows).scalars()]
    batches: dict[Any, list[dict[str, Any]]] = {}
    for k, (trial_id, trial) in enumerate(zip(ids, trials, strict=True)):
        for model, found in _rows(trial_id, trial).items():
            batches.setdefault(model, []).extend(found)
        trial._trial_id, trial.number = trial_id, base + k
    for model, batch in batches.items():  # Core inserts: the ORM's bulk path costs more per row
        connection.execute(insert(model.__table__), batch)
    return ids


def add_to_running_trial(session: Session, trial_id: int, trial: FrozenTrial) -> None:
    """Give the running trial ``trial_id`` the params, attributes and reports of ``trial`` in
    ``session``'s transaction (a λ path's first point: the rest of its points are written in
    the same commit), attributes it has already replaced; its state and value are left to
    Optuna's ``tell``."""
    connection = session.connection()
    for model, batch in _rows(trial_id, trial).items():
        if model is not om.TrialValueModel:  # Core, as above: the ORM's bulk path costs more
            connection.execute(_upsert(connection.dialect.name, model), batch)


@cache
def _upsert(dialect: str, model: Any) -> Any:
    """The insert of ``model``'s rows into a running trial: attributes replace those of the
    same key, the rest (params, reports) keep what is there."""
    statement: Any = DIALECTS[dialect](model.__table__)
    if model in (om.TrialUserAttributeModel, om.TrialSystemAttributeModel):
        return statement.on_conflict_do_update(
            index_elements=["trial_id", "key"],
            set_={"value_json": statement.excluded.value_json},
        )
    return statement.on_conflict_do_nothing()


@lru_cache(maxsize=256)
def _distribution_json(distribution: distributions.BaseDistribution) -> str:
    """Optuna's JSON of a distribution, once per distribution: a path's points share theirs."""
    return distributions.distribution_to_json(distribution)


def _rows(trial_id: int, trial: FrozenTrial) -> dict[Any, list[dict[str, Any]]]:
    """The rows of Optuna's tables that hold ``trial``'s params, values, attributes and
    reports, by model (those it has none of left out)."""
    rows: dict[Any, list[dict[str, Any]]] = {
        om.TrialParamModel: [
            {
                "trial_id": trial_id,
                "param_name": name,
                "param_value": trial.distributions[name].to_internal_repr(value),
                "distribution_json": _distribution_json(trial.distributions[name]),
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
            {"trial_id": trial_id, "key": key, "value_json": attr_json(value)}
            for key, value in attrs.items()
        ]
    return {model: found for model, found in rows.items() if found}


def trial_started_utc() -> Any:
    """The column of a trial's start time in UTC (``datetime_start`` is local time)."""
    return om.TrialModel._datetime_start_utc


def trial_completed_utc() -> Any:
    """The column of a trial's completion time in UTC."""
    return om.TrialModel._datetime_complete_utc


def open_trials() -> Any:
    """A trial is RUNNING or WAITING, in the very words of the index of open trials (migration
    0003): SQLite uses a partial index only for a query that repeats its condition, and neither
    database can prove it from a bound state."""
    return text("trials.state IN ('RUNNING', 'WAITING')")


def stale_trial_ids(storage: RDBStorage, study_id: int) -> list[int]:
    """RUNNING trials of ``study_id`` whose heartbeat is older than the grace period."""
    return list(storage._get_stale_trial_ids(study_id))


def is_pareto_front(points: np.ndarray) -> np.ndarray:
    """Which rows of ``points`` (all objectives minimized) are non-dominated."""
    return np.asarray(_is_pareto_front(points, False))


class KeyedHyperbandPruner(optuna.pruners.HyperbandPruner):
    """Optuna's Hyperband with a trial's bracket drawn from ``key`` and the trial's number, where
    Optuna draws it from the study's name (its private ``_get_bracket_id``, a CRC of
    ``f"{study_name}_{number}"``). A regtune study's Optuna name carries its id, new for every
    submission, so the same definition put its trials in other brackets each time and pruned
    others; keyed by the stored sampler seed, it prunes the same trials again."""

    def __init__(self, *, key: str, **options: Any) -> None:
        super().__init__(**options)
        self._key = key

    def _get_bracket_id(self, study: optuna.Study, trial: FrozenTrial) -> int:
        named: Any = SimpleNamespace(study_name=self._key)  # all Optuna's rule reads of it
        return int(super()._get_bracket_id(named, trial))


def note_report(trial: optuna.Trial, step: int, value: float) -> bool:
    """``trial.report(value, step)`` as the trial itself sees it (its pruner reads it at once);
    True: its row is left to ``write_reports``, which writes several in one transaction; False:
    the storage cannot batch, and ``Trial.report`` wrote it now."""
    if not isinstance(backend_of(trial.storage), OneStatementTrialWrites):
        trial.report(value, step)
        return False
    trial._cached_frozen_trial.intermediate_values[step] = float(value)
    return True


def write_reports(reports: Sequence[tuple[optuna.Trial, int, float]]) -> None:
    """The rows of reports ``note_report`` left (every trial on one batching storage), in one
    transaction."""
    if not reports:
        return
    backend = backend_of(reports[0][0].storage)
    assert isinstance(backend, OneStatementTrialWrites), "note_report wrote the others"
    backend.set_trials_intermediate_values(
        [(trial_id_of(trial), step, float(value)) for trial, step, value in reports]
    )


def set_user_attrs(trial: optuna.Trial, attrs: Mapping[str, Any]) -> None:
    """``trial.set_user_attr`` for every item, in one transaction where the storage can."""
    backend = backend_of(trial.storage)
    if not isinstance(backend, OneStatementTrialWrites):
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        return
    backend.set_trial_user_attrs(trial_id_of(trial), attrs)
    trial._cached_frozen_trial.user_attrs.update(attrs)


log = logging.getLogger(__name__)

CREATE_ATTEMPTS = 5
"""Optuna's tries at creating a trial (a deadlock between workers fails one)."""
CREATE_WAIT = 2.0
"""Up to this many seconds (at random, as Optuna waits) before the next try."""
ENDED_KEPT = 64
"""Trials this process ended, kept for the reads that follow (``tell`` reads the trial back)."""


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
        state = self._updatable_state(trial_id)
        raise StorageInternalError(f"trial {trial_id} ({state.name}) was not written")

    def _updatable_state(self, trial_id: int) -> TrialState:
        """The trial's state if it can still be written, else what Optuna raises: ``KeyError``
        for an unknown trial, ``UpdateFinishedTrialError`` for a finished one."""
        trials = om.TrialModel.__table__
        with self.engine.connect() as connection:
            state = connection.scalar(select(trials.c.state).where(trials.c.trial_id == trial_id))
        if state is None:
            raise KeyError(f"Record does not exist: trial {trial_id}")
        self.check_trial_is_updatable(trial_id, state)
        return TrialState(state)

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        """Optuna's, as one conditional UPDATE where Optuna reads the trial, then writes it: a
        trial leaves WAITING for RUNNING, or an open state for a finished one, once, whoever
        else tries at the same moment. Optuna's read locks the row on PostgreSQL, but SQLite
        has no ``FOR UPDATE`` and reads outside the write's transaction, so two sweeps could
        both fail one stale trial (and queue two retries of it), or two workers both take one
        WAITING trial. With ``values``, Optuna's own."""
        if values is not None:
            return bool(super().set_trial_state_values(trial_id, state, values))
        trials = om.TrialModel.__table__
        now = datetime.now(UTC).replace(tzinfo=None)  # naive UTC, as Optuna's ORM stores it
        moved = update(trials).where(trials.c.trial_id == trial_id)
        if state == TrialState.RUNNING:
            moved = moved.where(trials.c.state == TrialState.WAITING).values(
                state=state, datetime_start=now
            )
        else:
            written = {"datetime_complete": now} if state.is_finished() else {}
            moved = moved.where(trials.c.state.in_(UPDATABLE)).values(state=state, **written)
        with self.engine.begin() as connection:
            if connection.execute(moved).rowcount == 1:
                return True
        self._updatable_state(trial_id)  # unknown or finished: raises as Optuna does
        return False  # RUNNING asked of a trial that is not WAITING (another worker took it)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        if self._fast() is None:
            return super().get_study_system_attrs(study_id)
        try:
            with self.engine.connect() as connection:
                return study_system_attrs(connection, om, study_id)
        except SQLAlchemyError as exc:
            raise StorageInternalError(f"could not read study {study_id}'s attributes") from exc

    def _get_best_trial_id(self, study_id: int, direction: StudyDirection) -> int:
        if self._fast() is None:
            return super()._get_best_trial_id(study_id, direction)
        try:
            with self.engine.connect() as connection:
                return best_trial_id(connection, om, study_id, direction)
        except SQLAlchemyError as exc:
            raise StorageInternalError(f"could not read study {study_id}'s best trial") from exc

    def _create_new_trial(
        self, study_id: int, template_trial: FrozenTrial | None = None
    ) -> FrozenTrial:
        """A new trial (no template) in Core (``trial_rows.create_trial``), retried on a
        database error as Optuna retries it (deadlocks)."""
        if template_trial is not None or self._fast() is None:
            return super()._create_new_trial(study_id, template_trial)
        try:
            for attempt in Retrying(
                retry=retry_if_exception_type(SQLAlchemyError),
                stop=stop_after_attempt(CREATE_ATTEMPTS),
                wait=wait_random(0, CREATE_WAIT),
                reraise=True,
            ):
                with attempt, self.engine.begin() as connection:
                    return create_trial(connection, om, study_id)
        except SQLAlchemyError as exc:
            raise StorageInternalError(f"could not create a trial: {exc}") from exc
        raise AssertionError("unreachable")

    def _get_trials(
        self,
        study_id: int,
        states: Container[TrialState] | None,
        included_trial_ids: set[int],
        trial_id_greater_than: int,
        excluded_trial_ids: Collection[int] = (),
        *,
        for_sampler: bool = False,
    ) -> list[FrozenTrial]:
        """Optuna's read of a study's trials, in Core (``trial_rows.read_trials``), but for
        ``excluded_trial_ids`` (``for_sampler``: ``read_trials``'s)."""
        if self._fast() is None:
            found = super()._get_trials(study_id, states, included_trial_ids, trial_id_greater_than)
            return [t for t in found if t._trial_id not in excluded_trial_ids]
        try:
            with self.engine.connect() as connection:
                return read_trials(
                    connection,
                    om,
                    study_id,
                    states,
                    included_trial_ids,
                    trial_id_greater_than,
                    excluded_trial_ids,
                    for_sampler=for_sampler,
                )
        except SQLAlchemyError as exc:
            raise StorageInternalError(f"could not read the trials of study {study_id}") from exc

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


def _snapshot(trial: FrozenTrial) -> FrozenTrial:
    """A copy of a running trial whose dicts are its own and whose values are shared: its
    writes (``RunningTrial``) set keys and attributes and never change a value in place, so this
    is the trial as it is now, at a tenth of a ``deepcopy``'s cost (a pruner reads it at every
    report of a fused pass)."""
    snapshot = copy.copy(trial)
    snapshot.params = dict(trial.params)
    snapshot.distributions = dict(trial.distributions)
    snapshot.user_attrs = dict(trial.user_attrs)
    snapshot.system_attrs = dict(trial.system_attrs)
    snapshot.intermediate_values = dict(trial.intermediate_values)
    return snapshot


class RunningTrialWrites(OneStatementTrialWrites):
    """A trial created in this process is kept in memory while it runs (``running``): reading it
    costs no query, its reports and user attributes are written in batches (at most once a
    second, then with its final state), and its final state, value and pending rows are one
    transaction. Trials of other processes are read and written as Optuna does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._keep()

    def _keep(self) -> None:
        self._running: dict[int, RunningTrial] = {}
        self._ended: LRUCache[int, FrozenTrial] = LRUCache(maxsize=ENDED_KEPT)
        self._running_lock = threading.Lock()

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        for name in ("_running", "_ended", "_running_lock"):
            state.pop(name, None)
        return dict(state)

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self._keep()

    def _mine(self, trial_id: int) -> RunningTrial | None:
        with self._running_lock:
            return self._running.get(trial_id)

    def _create_new_trial(
        self, study_id: int, template_trial: FrozenTrial | None = None
    ) -> FrozenTrial:
        frozen = super()._create_new_trial(study_id, template_trial)
        if frozen.state == TrialState.RUNNING and self._fast() is not None:
            with self._running_lock:
                self._running[frozen._trial_id] = RunningTrial(copy.deepcopy(frozen))
        return frozen

    def get_trial(self, trial_id: int) -> FrozenTrial:
        with self._running_lock:
            mine = self._running.get(trial_id)
            known = mine.trial if mine is not None else self._ended.get(trial_id)
            if known is not None:
                return copy.deepcopy(known)
        return super().get_trial(trial_id)

    def _get_trials(
        self,
        study_id: int,
        states: Container[TrialState] | None,
        included_trial_ids: set[int],
        trial_id_greater_than: int,
        excluded_trial_ids: Collection[int] = (),
        *,
        for_sampler: bool = False,
    ) -> list[FrozenTrial]:
        trials = super()._get_trials(
            study_id,
            states,
            included_trial_ids,
            trial_id_greater_than,
            excluded_trial_ids,
            for_sampler=for_sampler,
        )
        with self._running_lock:
            if not self._running:
                return trials
            return [
                copy.deepcopy(self._running[t._trial_id].trial)
                if t.state == TrialState.RUNNING and t._trial_id in self._running
                else t
                for t in trials
            ]

    def _set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: distributions.BaseDistribution,
        previous_distribution: distributions.BaseDistribution | None,
    ) -> None:
        mine = self._mine(trial_id)
        if mine is not None and mine.together:
            if previous_distribution is not None:
                distributions.check_distribution_compatibility(previous_distribution, distribution)
            if param_name not in mine.trial.params:  # Optuna ignores a second one
                mine.set_param(param_name, param_value_internal, distribution)
            return
        super()._set_trial_param(
            trial_id, param_name, param_value_internal, distribution, previous_distribution
        )
        if mine is not None and param_name not in mine.trial.params:
            mine.trial.params[param_name] = distribution.to_external_repr(param_value_internal)
            mine.trial.distributions[param_name] = distribution

    def when_ended(self, trial_id: int, then: Callable[[Connection, TrialState], None]) -> bool:
        """Run ``then(connection, state)`` in the transaction that ends this running trial (its
        final state, value and pending rows), so what the trial's end decides commits with it;
        False if the trial is not running in this process."""
        mine = self._mine(trial_id)
        if mine is None:
            return False
        mine.on_end = then
        return True

    @contextmanager
    def params_together(self, trial_id: int) -> Iterator[None]:
        """The parameters a running trial of this process suggests in this block are written
        together, in one transaction, when it ends (with anything else pending)."""
        mine = self._mine(trial_id)
        if mine is None or mine.together:
            yield
            return
        mine.together = True
        try:
            yield
        finally:
            mine.together = False
            now = time.monotonic()
            self._write(trial_id, mine)
            mine.written(now)

    def _kept(self, trial_id: int, keep: Callable[[RunningTrial], None]) -> bool:
        """``keep`` the write in this process's running trial (written when due); False if the
        trial does not run here (the caller writes it as Optuna does)."""
        mine = self._mine(trial_id)
        if mine is None:
            return False
        keep(mine)
        self._flush_if_due(trial_id, mine)
        return True

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        if not self._kept(trial_id, lambda mine: mine.report(step, intermediate_value)):
            super().set_trial_intermediate_value(trial_id, step, intermediate_value)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        if not self._kept(trial_id, lambda mine: mine.set_user_attr(key, value)):
            super().set_trial_user_attr(trial_id, key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        if not self._kept(trial_id, lambda mine: mine.set_system_attr(key, value)):
            super().set_trial_system_attr(trial_id, key, value)

    def set_trials_intermediate_values(self, reports: Sequence[tuple[int, int, float]]) -> None:
        """Reports of several trials (fused members): kept with those running here, the rest
        written in one statement."""

        def keep(step: int, value: float) -> Callable[[RunningTrial], None]:
            return lambda mine: mine.report(step, value)

        others = [
            (trial_id, step, value)
            for trial_id, step, value in reports
            if not self._kept(trial_id, keep(step, value))
        ]
        if others:
            super().set_trials_intermediate_values(others)

    def set_trial_user_attrs(self, trial_id: int, attrs: Mapping[str, Any]) -> None:
        def keep(mine: RunningTrial) -> None:
            for key, value in attrs.items():
                mine.set_user_attr(key, value)

        if not self._kept(trial_id, keep):
            super().set_trial_user_attrs(trial_id, attrs)

    def _flush_if_due(self, trial_id: int, mine: RunningTrial) -> None:
        now = time.monotonic()
        if mine.due(now):
            self._write(trial_id, mine)
            mine.written(now)

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        mine = self._mine(trial_id)
        if mine is None or not state.is_finished():
            moved = bool(super().set_trial_state_values(trial_id, state, values))
            if moved and state == TrialState.RUNNING and self._fast() is not None:
                # a WAITING trial (a retry, an enqueued trial) this process now runs
                frozen = super().get_trial(trial_id)
                with self._running_lock:
                    self._running[trial_id] = RunningTrial(frozen)
            return moved
        completed = datetime.now()
        final = None if values is None else list(values)
        self._write(trial_id, mine, state=state, values=final, completed=completed)
        mine.finished(state, final, completed)
        with self._running_lock:
            self._running.pop(trial_id, None)
            self._ended[trial_id] = mine.trial
        return True

    def kept(self, trial_ids: Collection[int]) -> list[FrozenTrial]:
        """Those of ``trial_ids`` this process runs or ended, as it wrote them (no query)."""
        with self._running_lock:
            found = [
                mine.trial if (mine := self._running.get(t)) is not None else self._ended.get(t)
                for t in trial_ids
            ]
        return [_snapshot(trial) for trial in found if trial is not None]

    def _write(self, trial_id: int, mine: RunningTrial, **final: Any) -> None:
        """``running.write`` in a transaction of its own; Optuna's errors if it was not running."""
        try:
            with self.engine.begin() as connection:
                written = write_running(connection, om, trial_id, mine, **final)
        except SQLAlchemyError as exc:
            raise StorageInternalError(f"could not write trial {trial_id}: {exc}") from exc
        if not written:
            with self._running_lock:
                self._running.pop(trial_id, None)
            self._not_updatable(trial_id)

    def start_trial(self, trial_id: int, system_attrs: dict[str, Any], check: Executable) -> Any:
        """Record the trial's first heartbeat and its ``system_attrs`` and run ``check`` (a
        scalar query), in one transaction; return what ``check`` found."""
        table = om.TrialSystemAttributeModel.__table__
        rows = [
            {"trial_id": trial_id, "key": key, "value_json": json.dumps(value)}
            for key, value in system_attrs.items()
        ]
        try:
            with self.engine.begin() as connection:
                record_trial_heartbeat(connection, trial_id)
                if rows:
                    insert_rows(connection, table, ("trial_id", "key"), rows)
                found = connection.scalar(check)
        except SQLAlchemyError as exc:
            raise StorageInternalError(f"could not start trial {trial_id}: {exc}") from exc
        mine = self._mine(trial_id)
        if mine is not None:
            mine.trial.system_attrs.update(system_attrs)
        return found


def record_trial_heartbeat(connection: Connection, trial_id: int) -> None:
    """Optuna's ``record_heartbeat`` (the trial's heartbeat row, at the database's clock) as one
    upsert in the caller's transaction, so a worker beats for its trial with its own beat."""
    connection.execute(_heartbeat_statement(connection.dialect.name), {"beat_id": trial_id})


@cache
def _heartbeat_statement(dialect: str) -> Any:
    table = om.TrialHeartbeatModel.__table__
    insert = DIALECTS[dialect](table).values(
        trial_id=bindparam("beat_id"), heartbeat=func.current_timestamp()
    )
    return insert.on_conflict_do_update(
        index_elements=["trial_id"], set_={"heartbeat": func.current_timestamp()}
    )


class WorkerHeartbeats(_CachedStorage):
    """Optuna's cache over an RDBStorage for the studies a worker runs, without Optuna's
    heartbeat: no thread per trial and no look for stale trials before each one. The worker's
    own heartbeat thread records its running trial's heartbeat (``record_trial_heartbeat``),
    and the sweep fails stale trials (through a storage whose heartbeat is on)."""

    def __init__(self, backend: RDBStorage) -> None:
        super().__init__(backend)
        self._no_waiting: set[int] = set()
        self._read_at: dict[int, float] = {}
        self._written: dict[int, set[int]] = {}
        """Ids of finished trials this process wrote and cached since the study's last read."""

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        trial_id = super().create_new_trial(study_id, template_trial)
        self._read_at.pop(study_id, None)  # the new trial's sampler reads the study afresh
        return trial_id

    def _read_trials_from_remote_storage(self, study_id: int) -> None:
        """Read the study's new and unfinished trials, at most once a second once the running
        trial has read them: the sampler's reads of one ask are one, and a pruner sees other
        processes' trials as stored at most ``FLUSH_SECONDS`` ago (its own reports always at
        once, and the trials this process runs or ended as they are: ``_own``)."""
        now = time.monotonic()
        last = self._read_at.get(study_id)
        if last is not None and now - last < FLUSH_SECONDS:
            self._own(study_id)
            return
        self._read(study_id)
        self._read_at[study_id] = now

    def _own(self, study_id: int) -> None:
        """Between two reads, the unfinished trials this process runs or has just ended, as it
        wrote them (no query): a fused member's pruner compares it with the other members' rungs
        and reports as they are, not as the clock let the last read see them, so one worker
        prunes the same trials in every run."""
        backend = self._backend
        if not isinstance(backend, RunningTrialWrites):
            return
        with self._lock:
            study = self._studies.get(study_id)
            if study is not None and study.unfinished_trial_ids:
                self._add_trials_to_cache(study_id, backend.kept(study.unfinished_trial_ids))

    def _read(self, study_id: int) -> None:
        """Optuna's read of the study's new and unfinished trials, as its samplers and pruners
        see them (``read_trials(for_sampler=True)``: the worker reads no other trial's user
        attributes or coefficients; the best model reads the trial it refits from the
        database), but for those this process wrote (``add_written``, already cached). Those
        were committed before this read: on SQLite every trial of a lower id was too, and is
        read now, so the read's mark moves past them."""
        backend = self._backend
        assert isinstance(backend, OneStatementTrialWrites), "a worker's storage is regtune's"
        with self._lock:
            written = self._written.pop(study_id, set())
            study = self._studies.setdefault(study_id, _StudyInfo())
            trials = backend._get_trials(
                study_id,
                states=None,
                included_trial_ids=study.unfinished_trial_ids,
                trial_id_greater_than=study.last_finished_trial_id,
                excluded_trial_ids=written,
                for_sampler=True,
            )
            self._add_trials_to_cache(study_id, trials)
            for trial in trials:
                if not trial.state.is_finished():
                    study.unfinished_trial_ids.add(trial._trial_id)
                    continue
                study.unfinished_trial_ids.discard(trial._trial_id)
                study.last_finished_trial_id = max(study.last_finished_trial_id, trial._trial_id)
            if written:
                study.last_finished_trial_id = max(study.last_finished_trial_id, max(written))

    def add_written(self, study_id: int, trials: list[FrozenTrial]) -> None:
        """Finished ``trials`` this process just wrote (each with its id and number): cached
        as read, so that the study's next read leaves them out."""
        with self._lock:
            if study_id not in self._studies:  # not read yet: the first read reads them all
                return
            self._add_trials_to_cache(study_id, trials)
            self._written.setdefault(study_id, set()).update(t._trial_id for t in trials)

    def get_heartbeat_interval(self) -> int | None:
        return None

    def claimed(self, study_id: int, *, waiting: bool) -> None:
        """A slot of ``study_id`` was just claimed: its ask reads the study afresh, and looks for
        a WAITING trial only if the claim saw one (``Claim.waiting``, in its own transaction)."""
        self._read_at.pop(study_id, None)
        if waiting:
            self._no_waiting.discard(study_id)
        else:
            self._no_waiting.add(study_id)

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        waiting = isinstance(states, tuple) and states == (TrialState.WAITING,)
        if waiting and study_id in self._no_waiting:
            self._no_waiting.discard(study_id)
            return []
        return super().get_all_trials(study_id, deepcopy=deepcopy, states=states)


@contextmanager
def params_together(trial: optuna.Trial) -> Iterator[None]:
    """Write the parameters ``trial`` suggests in this block in one transaction at its end
    (``RunningTrialWrites.params_together``; one write each with any other storage)."""
    backend = backend_of(trial.storage)
    if not isinstance(backend, RunningTrialWrites):
        yield
        return
    with backend.params_together(trial._trial_id):
        yield
