"""The best trial the API reports: the best feasible COMPLETE trial, on both backends."""

from __future__ import annotations

from typing import Literal

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from regtune.service.store.db import make_engine, transaction
from regtune.service.store.migrate import upgrade
from regtune.service.store.scheduling.retries import storage_with_retries
from regtune.service.store.trials.best import BEST_CANDIDATES, best_trial_number
from tests.service.optuna_studies import directed_study

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _add(study: optuna.Study, value: float | None, *, feasible: bool | None = None) -> None:
    attrs = {} if feasible is None else {"feasible": feasible}
    study.add_trial(
        create_trial(
            state=TrialState.COMPLETE if value is not None else TrialState.PRUNED,
            value=value,
            params={"x": 0.5},
            distributions={"x": FloatDistribution(0, 1)},
            intermediate_values={1: 1.0},
            user_attrs=attrs,
        )
    )


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_best_skips_infeasible_trials_beyond_the_first_candidates(
    database_url: str, direction: Literal["minimize", "maximize"]
) -> None:
    engine, study, sign = directed_study(database_url, direction)
    _add(study, None)  # pruned trials never count
    _add(study, sign * 5.0, feasible=True)
    with transaction(engine) as session:
        assert best_trial_number(session, study._study_id, direction) == 1
    for i in range(BEST_CANDIDATES + 3):  # better than trial 1, but infeasible
        _add(study, sign * float(i), feasible=False)
    with transaction(engine) as session:
        assert best_trial_number(session, study._study_id, direction) == 1
    _add(study, sign * 4.0)  # no constraint recorded: feasible
    with transaction(engine) as session:
        assert best_trial_number(session, study._study_id, direction) == study.trials[-1].number
    engine.dispose()


def test_no_best_without_a_feasible_complete_trial(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    study = optuna.create_study(storage=storage_with_retries(database_url))
    with transaction(engine) as session:
        assert best_trial_number(session, study._study_id, "minimize") is None
    for i in range(BEST_CANDIDATES + 1):
        _add(study, float(i), feasible=False)
    _add(study, None)
    with transaction(engine) as session:
        assert best_trial_number(session, study._study_id, "minimize") is None
    engine.dispose()
