"""Idle workers find completed studies whose best model was never saved, or that were never
told why they have none."""

from __future__ import annotations

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from regtune.service.store.clock import utcnow
from regtune.service.store.db import make_engine, transaction
from regtune.service.store.migrate import upgrade
from regtune.service.store.optuna_db.attrs import BEST_MODEL_ATTR
from regtune.service.store.repos.missing_models import mark_no_model, studies_missing_a_model
from regtune.service.store.scheduling.retries import storage_with_retries
from tests.support import study_row


def test_completed_study_without_a_model_is_found_until_one_is_saved_or_none_is_said(
    database_url: str,
) -> None:
    """A completed study whose trials were all pruned is found too (its deadline or the sweep
    may have completed it, with no worker to say why it has no model), until that is said."""
    upgrade(database_url)
    engine = make_engine(database_url)
    storage = storage_with_retries(database_url)
    studies = {}
    for name, status, trial_state in [
        ("done", "completed", TrialState.COMPLETE),
        ("running", "running", TrialState.COMPLETE),
        ("all-pruned", "completed", TrialState.PRUNED),
    ]:
        study = optuna.create_study(storage=storage, study_name=name)
        study.add_trial(
            create_trial(
                state=trial_state,
                value=1.0 if trial_state == TrialState.COMPLETE else None,
                params={"x": 0.5},
                distributions={"x": FloatDistribution(0, 1)},
                intermediate_values={1: 1.0},
            )
        )
        studies[name] = study
        with transaction(engine) as session:
            session.add(
                study_row(
                    name,
                    study._study_id,
                    status,
                    n_trials=1,
                    max_retries=0,
                    n_done=1,
                    n_claims=1,
                    finished_at=utcnow(),
                )
            )
    assert sorted(studies_missing_a_model(engine, limit=10)) == ["all-pruned", "done"]
    studies["done"].set_user_attr(BEST_MODEL_ATTR, {"artifact_id": "a", "trial": 0})
    assert studies_missing_a_model(engine, limit=10) == ["all-pruned"]
    mark_no_model(
        "all-pruned",
        studies["all-pruned"]._study_id,
        reason="no best model: no COMPLETE trial",
        engine=engine,
        storage=storage,
    )
    assert studies_missing_a_model(engine, limit=10) == []
    engine.dispose()
