"""What a trial's statements read grows with nothing but the trial: SQLite's query plans.

A worker's per-trial statements must each find their rows through an index, not walk the
study's trials: at 10,000 trials the three that did (the claim's look for a WAITING trial,
Optuna's numbering of a new trial, the finish's count of finished trials) cost 1.9 ms of a
trial's 5.4 ms of CPU on SQLite (``bench.trial_cost``). Plans are asked of a study with
finished trials, so the planner has a study to walk.
"""

from __future__ import annotations

from typing import Any

import optuna
from sqlalchemy import Connection, select

from regtune.service.store.db import make_engine
from regtune.service.store.migrate import upgrade
from regtune.service.store.optuna_db.internals.handles import om
from regtune.service.store.optuna_db.trial_rows import _statements, create_trial
from regtune.service.store.scheduling.claims import finishing, taking
from regtune.service.store.scheduling.retries import storage_with_retries


def _plan(connection: Connection, statement: Any, params: dict[str, Any]) -> str:
    compiled = statement.compile(dialect=connection.dialect)
    sql, values = str(compiled), compiled.construct_params(params)
    found = connection.exec_driver_sql(
        f"EXPLAIN QUERY PLAN {sql}", tuple(values[k] for k in compiled.positiontup or [])
    ).all()
    return "\n".join(str(row[-1]) for row in found)


def _study(url: str) -> int:
    storage = storage_with_retries(url)
    study = optuna.create_study(study_name="plans", storage=storage)
    study.add_trials(
        [optuna.trial.create_trial(params={}, distributions={}, value=v) for v in range(20)]
    )
    return int(study._study_id)


def test_a_trials_statements_find_their_rows_through_indexes(sqlite_url: str) -> None:
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    study_id = _study(sqlite_url)
    with engine.begin() as connection:
        waiting = _plan(connection, taking._has_waiting(), {"study": "x"})
        assert "regtune_ix_trials_open" in waiting, waiting
        before = connection.scalars(
            select(om.TrialModel.number).where(om.TrialModel.study_id == study_id)
        ).all()
        assert sorted(before) == list(range(20))
        # numbered as Optuna numbers a trial: by the count of the study's trials before it
        assert create_trial(connection, om, study_id).number == 20
        assert create_trial(connection, om, study_id).number == 21
        new = {"of_study": study_id, "started": None}
        numbering = _plan(connection, _statements(om)["new"], new)
        assert "SEARCH trials USING" in numbering, numbering  # the study's latest trial…
        assert "SCAN trials" not in numbering and "TEMP B-TREE" not in numbering  # …alone
        told = _plan(
            connection,
            finishing._count(released=True, errored=False, told=True),
            {"study": "x", "now": None},
        )
        assert "trials" not in told, told  # n_done + 1: no count of the study
    engine.dispose()
