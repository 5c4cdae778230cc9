"""Per-epoch reports and suggested parameters written in one SQL statement each.

Optuna's RDBStorage writes an intermediate value as three statements in an ORM session (read the
trial to check it is still running, look the step up, insert or update) and a parameter as two.
A trial of 10 epochs and 4 parameters makes 14 such writes, which is most of what plain Optuna
costs per trial on a database. Here each is one conditional ``INSERT … SELECT … WHERE the trial
is not finished`` (an upsert for reports): the same rows, the same errors (``KeyError`` for an
unknown trial, ``UpdateFinishedTrialError`` for a finished one), a third of the round trips.
SQLite and PostgreSQL only; any other database keeps Optuna's own code.
"""

from __future__ import annotations

import logging
from typing import Any

from optuna import distributions
from optuna.exceptions import StorageInternalError
from optuna.storages import RDBStorage
from optuna.storages._rdb import models as _optuna_models
from optuna.trial import TrialState
from sqlalchemy import Engine, exists, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

om: Any = _optuna_models  # Optuna's SQLAlchemy models are untyped

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
        insert = self._fast()
        if insert is None:
            super().set_trial_intermediate_value(trial_id, step, intermediate_value)
            return
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
        try:
            with self.engine.begin() as connection:
                written = connection.execute(statement.returning(table.c.trial_id)).first()
        except SQLAlchemyError as exc:
            raise StorageInternalError(f"could not report step {step}: {exc}") from exc
        if written is None:
            self._not_updatable(trial_id)

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
