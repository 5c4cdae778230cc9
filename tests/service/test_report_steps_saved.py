"""The steps the pruner saved are measured against the COMPLETE trials that reported steps: a trial
that diverged at its first step is COMPLETE at ±inf with no step reported, and counted as a
trial of 0 steps it pulled the complete trials' mean down ("9.8 for complete ones, about 39
steps saved" where the 8 that reported steps ran 13.5 on average: about 58 saved)."""

from __future__ import annotations

import math

import optuna
from fastapi.testclient import TestClient
from optuna.trial import TrialState, create_trial

from regtune.service.spec.definition import StudySpec
from regtune.service.store.repos.study_creation import create_study
from regtune.service.store.scheduling.retries import get_storage
from tests.service.optuna_studies import add_trials
from tests.service.test_report import DISTRIBUTIONS, _set_status, _spec

PLAN = [15, 15, 9, 0, 0, 15, -2, -2, 15, 15, 15, -2, -2, -2, 9, 0]
"""Each trial's reported steps, numbered in this order: negative for a PRUNED trial, 0 for one
that diverged at its first step (the diverge study of a user's pass: diabetes MLP, sgd)."""


def _trial(i: int, steps: int) -> optuna.trial.FrozenTrial:
    pruned, diverged = steps < 0, steps == 0
    value = math.inf if diverged else 0.3 + i / 100
    return create_trial(
        state=TrialState.PRUNED if pruned else TrialState.COMPLETE,
        value=None if pruned else value,
        params={"lambda": 10 ** (-4 + i / 4), "l1_ratio": 0.0},
        distributions=DISTRIBUTIONS,
        intermediate_values={s: 0.5 + 1 / s for s in range(1, abs(steps) + 1)},
        user_attrs={"diverged": True, "epochs_run": 1} if diverged else {"n_nonzero": 10},
    )


def test_the_steps_saved_leave_out_complete_trials_that_reported_no_step(api: TestClient) -> None:
    row = create_study(StudySpec.model_validate(_spec("mlp").model_dump(mode="json")))
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    add_trials(study, [_trial(i, steps) for i, steps in enumerate(PLAN)])
    _set_status(row.id, "completed")

    html = api.get(f"/v1/studies/{row.id}/report").text
    assert (
        "5 pruned trials stopped after 2.0 reported steps on average, against 13.5 for complete "
        "ones: about 58 steps saved (not counting the 3 COMPLETE trials that reported no step, "
        "as a trial that diverges at its first does)."
    ) in html, html[html.find("pruned trials stopped") - 100 :][:400]
