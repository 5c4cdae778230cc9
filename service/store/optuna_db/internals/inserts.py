"""Finished or waiting trials, and a running trial's params and attributes, written as Optuna's
rows in the caller's transaction (a λ path's points, with the release of their claims, in one
commit; the points an extension queues, with the budget that grows to hold them)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any

from optuna import distributions
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from regtune.service.store.optuna_db.internals.handles import om
from regtune.service.store.optuna_db.running import INSERTS as DIALECTS
from regtune.service.store.optuna_db.trial_rows import attr_json, next_number


def add_trials(session: Session, study_id: int, trials: list[FrozenTrial]) -> list[int]:
    """Write ``trials`` (finished, or WAITING as Optuna's ``enqueue_trial`` makes them, as
    ``optuna.trial.create_trial`` makes either) into the study in ``session``'s transaction,
    numbered after every trial before them → their trial ids; each of ``trials`` then carries
    its id and number, as a trial Optuna read back would.

    The rows Optuna's own writer makes, in a handful of multi-row inserts: Optuna's
    ``add_trials`` commits each trial on its own, and writes each attribute with a read and a
    write. Numbering holds the lock Optuna takes on the study's row to number trials (a
    session on the same database as the study's storage, e.g. regtune's)."""
    if not trials:
        return []
    for trial in trials:
        if not trial.state.is_finished() and trial.state != TrialState.WAITING:
            raise ValueError(
                f"only finished or waiting trials are written here, got {trial.state.name}"
            )
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
            "datetime_start": _utc(trial.datetime_start),
            "datetime_complete": _utc(trial.datetime_complete),
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


def _utc(stamp: datetime | None) -> datetime | None:
    """``stamp`` as Optuna's trial columns hold it, naive UTC, as its models' setters write it
    (``create_trial`` stamps naive local time: written as it was, a path's points started and
    ended hours off on a worker outside UTC)."""
    return None if stamp is None else stamp.astimezone(UTC).replace(tzinfo=None)


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
