"""``OneStatementTrialWrites``: per-epoch reports and suggested parameters written in one SQL
statement each.

Optuna's RDBStorage writes an intermediate value as three statements in an ORM session (read the
trial to check it is still running, look the step up, insert or update) and a parameter as two;
here each is one conditional ``INSERT … SELECT … WHERE the trial is not finished`` (an upsert for
reports): the same rows, the same errors (``KeyError`` for an unknown trial,
``UpdateFinishedTrialError`` for a finished one), a third of the round trips. SQLite and
PostgreSQL only; any other database keeps Optuna's own code.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Container, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from optuna import distributions
from optuna.exceptions import StorageInternalError
from optuna.storages import RDBStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import Engine, exists, literal, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random

from regtune.service.store.optuna_db.internals.handles import om
from regtune.service.store.optuna_db.running import INSERTS as DIALECTS
from regtune.service.store.optuna_db.running import UPDATABLE
from regtune.service.store.optuna_db.trial_rows import (
    best_trial_id,
    create_trial,
    read_trials,
    study_system_attrs,
)

log = logging.getLogger(__name__)

CREATE_ATTEMPTS = 5
"""Optuna's tries at creating a trial (a deadlock between workers fails one)."""
CREATE_WAIT = 2.0
"""Up to this many seconds (at random, as Optuna waits) before the next try."""


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
