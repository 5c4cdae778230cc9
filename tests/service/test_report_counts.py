"""The report names one of a thing in the singular: a study whose Pareto front is one trial read
"The 1 trials no other trial beats on every objective", and a study of one trial "1 of 1 trials
done", "1 of the 1 COMPLETE trials stopped early", "1 non-zero weights", "1 COMPLETE trials with a
finite value drawn", "(1 sampled COMPLETE trials)"; a note "about 1 steps saved"."""

from __future__ import annotations

import re
import uuid

import optuna
from fastapi.testclient import TestClient
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from regtune.service.api import report_figures as figures
from regtune.service.api import report_words as words
from regtune.service.spec.definition import StudySpec
from regtune.service.store.optuna_db.attrs import BEST_MODEL_ATTR, STOPPED_EARLY_ATTR
from regtune.service.store.repos.study_creation import create_study
from regtune.service.store.scheduling.retries import get_storage
from regtune.service.store.trials.curves import Reported
from regtune.service.store.trials.report import ReportData
from tests.service.test_report import _set_status, finished_study

optuna.logging.set_verbosity(optuna.logging.WARNING)
ONE_OF_MANY = re.compile(r"\b1 (?:[A-Za-z-]+ ){0,2}(?:trials|weights|inputs|steps)\b")
"""One of a thing said in the plural: ``1 trials``, ``1 COMPLETE trials``, ``1 non-zero
weights``."""


def _body(html: str) -> str:
    """The page without its head (plotly's JavaScript), its figures' scripts kept, nor the
    study's end (``GET /v1/studies/{id}``'s ``end.message``, not the report's words)."""
    return re.sub(r'<p class="end" id="end">.*?</p>', "", html.split("<body>", 1)[1])


def test_a_study_of_one_trial_says_each_count_of_one_in_the_singular(api: TestClient) -> None:
    spec = StudySpec.model_validate(
        {
            "name": f"one-trial-{uuid.uuid4().hex[:8]}",
            "dataset": {"builtin": "diabetes"},
            "model": {"kind": "mlp", "hidden_layers": [8]},
            "objectives": ["val_rmse", "n_inputs"],
            "search_space": {"lambda": {"low": 1e-4, "high": 1e-1, "log": True}},
            "training": {"max_epochs": 10, "early_stopping": {"patience": 1}},
            "sampler": {"type": "nsgaii", "seed": 0},
            "pruner": {"type": "none"},
            "budget": {"n_trials": 1},
        }
    )
    row = create_study(spec)
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    study.add_trial(
        create_trial(
            state=TrialState.COMPLETE,
            values=[50.0, 1.0],
            params={"lambda": 0.01},
            distributions={"lambda": FloatDistribution(1e-4, 1e-1, log=True)},
            user_attrs={
                "n_nonzero": 1,
                "n_inputs": 1.0,
                "epochs_run": 3,
                STOPPED_EARLY_ATTR: True,
                "val_curve": [70.0, 60.0, 50.0],
            },
        )
    )
    _set_status(row.id, "completed")
    body = _body(api.get(f"/v1/studies/{row.id}/report").text)

    assert " · 1 of 1 trial done\n" in body
    assert (
        '<span id="stopped-early">1 COMPLETE trial, the only one, stopped early '
        "(training.early_stopping) after 3 of training.max_epochs 10 epochs</span>"
    ) in body
    assert "lambda = 0.01; 1 non-zero weight.</p>" in body
    assert '<p class="note">The one trial no other trial beats on every objective.</p>' in body
    assert "Sampled from the database: 1 COMPLETE trial with a finite value drawn" in body
    assert "Optimization history (1 sampled COMPLETE trial)" in body
    assert not ONE_OF_MANY.findall(body)


def test_a_saved_model_of_one_non_zero_weight_says_so(api: TestClient) -> None:
    row = finished_study("default", n=10)
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    study.set_user_attr(BEST_MODEL_ATTR, study.user_attrs[BEST_MODEL_ATTR] | {"n_nonzero": 1})
    body = _body(api.get(f"/v1/studies/{row.id}/report").text)

    assert ", refit on 353 rows, 1 non-zero weight, λ = 0.05.</p>" in body
    assert not ONE_OF_MANY.findall(body)


def test_the_figures_and_notes_say_one_in_the_singular() -> None:
    one_input = figures.coefficients(["bmi"], [0.9])
    assert one_input is not None
    assert one_input.layout.title.text == (
        "Best model: non-zero coefficients (1 of 1 input, standardized)"
    )
    data = ReportData(
        counts={"COMPLETE": 2, "PRUNED": 1},
        points=[],
        band=[],
        band_l1=None,
        best=None,
        front=[],
        reported={"COMPLETE": Reported(trials=2, steps=8), "PRUNED": Reported(trials=1, steps=3)},
    )
    assert words.saved_steps(data) == (
        "1 pruned trial stopped after 3.0 reported steps on average, against 4.0 for complete "
        "ones: about 1 step saved."
    )
    assert words.empty("cancelled", complete=0, pruned=1) == (
        "No trial completed before the study ended (cancelled), and the pruned trial sampled for "
        "the learning curves reported no finite value: there is nothing to plot."
    )
