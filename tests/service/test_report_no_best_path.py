"""The report of a linear study none of whose trials could be chosen (breast_cancer,
``objective.max_nonzero: 3``: every trial over it). Its trials stored their weights, but the
coefficient path was read only around a best trial, so the page drew the non-zero counts and
said "No trial stored its weights by input (an MLP, or trials written before they were)". Now
it draws the coefficient path of every l1_ratio from the weights the trials stored, one trial
per λ bin by value, and says why none is marked the best."""

from __future__ import annotations

import random

import optuna
from fastapi.testclient import TestClient

from regtune.service.spec.definition import StudySpec
from regtune.service.store.repos.study_creation import create_study
from regtune.service.store.scheduling.retries import get_storage
from tests.service.optuna_studies import add_trials
from tests.service.test_report import _in_figure, _set_status, _spec, _trial


def test_a_study_without_a_best_trial_draws_the_weights_its_trials_stored(
    api: TestClient,
) -> None:
    definition = _spec().model_dump(mode="json", exclude_none=True)
    spec = StudySpec.model_validate(definition | {"objective": {"max_nonzero": 3}})
    row = create_study(spec)
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    rng = random.Random(2)
    trials = [_trial(rng, 10 ** rng.uniform(-4, 0), rng.random(), pruned=False) for _ in range(32)]
    for trial in trials:
        dense = max(4, trial.user_attrs["n_nonzero"])  # over max_nonzero, as the worker marks it
        trial.user_attrs = {**trial.user_attrs, "n_nonzero": dense, "feasible": False}
    add_trials(study, trials)
    _set_status(row.id, "completed")
    assert api.get(f"/v1/studies/{row.id}").json()["best_trial"] is None

    html = api.get(f"/v1/studies/{row.id}/report").text
    assert "No trial stored its weights" not in html
    assert _in_figure("Coefficient path", html)
    assert "The coefficient path draws the weights each linear trial stored" in html
    assert "the coefficients are the saved model" not in html  # none was saved
    assert "one trial per λ bin, the one of the best value (no trial could be chosen" in html
    assert "Inputs enter, from large λ to small: bmi" in html
