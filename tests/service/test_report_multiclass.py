"""The report of a multiclass linear study: a model of K classes has K weights per input, and the
report draws one number per input, the norm of those weights over the classes (never negative).
Its charts said "coefficient (per standard deviation of the input)" and "weight (…)", signed
words over bars and lines that were never below zero, and the page never said they were norms."""

from __future__ import annotations

import math
import uuid

import numpy as np
import optuna
from fastapi.testclient import TestClient
from optuna.trial import TrialState, create_trial

from regtune.service.spec.definition import StudySpec
from regtune.service.store.optuna_db.attrs import COEFFICIENTS_ATTR
from regtune.service.store.repos.study_creation import create_study
from regtune.service.store.scheduling.retries import get_storage
from regtune.service.store.trials.coefficients import encode
from tests.service.optuna_studies import add_trials
from tests.service.report_figures_json import titled
from tests.service.report_models import save_best_model
from tests.service.test_report import DISTRIBUTIONS, _set_status

INPUTS = ["sepal length", "sepal width", "petal length", "petal width"]
WEIGHTS = np.array(  # (classes, inputs): each input pushes some class down
    [[0.5, 1.2, -2.0, -1.8], [0.1, -0.9, 0.4, -0.3], [-0.6, -0.3, 1.6, 2.1]], dtype=np.float32
)


def _iris_study() -> StudySpec:
    return StudySpec.model_validate(
        {
            "name": f"iris-{uuid.uuid4().hex[:8]}",
            "dataset": {"builtin": "iris"},
            "task": "multiclass",
            "model": {"kind": "linear"},
            "search_space": {
                "lambda": {"low": 1e-4, "high": 1.0, "log": True},
                "l1_ratio": {"low": 0.0, "high": 1.0},
            },
            "objective": {"metric": "val_loss"},
            "budget": {"n_trials": 20},
        }
    )


def _trials() -> list[optuna.trial.FrozenTrial]:
    """Trials whose stored weights are the norms over the classes, shrinking with λ."""
    norms = np.linalg.norm(WEIGHTS.astype(np.float64), axis=0)
    trials = []
    for i in range(20):
        lam = 10 ** (-4 + 4 * i / 19)
        kept = [max(0.0, n - 2 * lam) for n in norms]
        trials.append(
            create_trial(
                state=TrialState.COMPLETE,
                value=0.2 + 0.05 * (math.log10(lam) + 2) ** 2,
                params={"lambda": lam, "l1_ratio": 0.5},
                distributions=DISTRIBUTIONS,
                system_attrs={COEFFICIENTS_ATTR: encode(INPUTS, kept)},
                user_attrs={"n_nonzero": 3 * sum(1 for w in kept if w)},
            )
        )
    return trials


def _save_model(study: optuna.Study) -> None:
    save_best_model(
        study,
        {"member.0.1.weight": WEIGHTS, "member.0.1.bias": np.zeros(3, dtype=np.float32)},
        file="iris.safetensors",
        metadata={"feature_names": '["' + '", "'.join(INPUTS) + '"]'},
    )


def test_a_multiclass_model_s_charts_say_they_draw_norms_over_the_classes(api: TestClient) -> None:
    row = create_study(_iris_study())
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    add_trials(study, _trials())
    _save_model(study)
    _set_status(row.id, "completed")

    html = api.get(f"/v1/studies/{row.id}/report").text
    bars = titled(html, "Best model:")
    assert bars["layout"]["title"]["text"].startswith(
        "Best model: each input's norm over the 3 classes' weights (4 of 4 inputs"
    )
    axis = "norm of the input's weights over the classes (per standard deviation of the input)"
    assert bars["layout"]["xaxis"]["title"]["text"] == axis
    assert min(bars["data"][0]["x"]) > 0  # a norm: no bar below zero
    path = titled(html, "Coefficient path")
    assert path["layout"]["yaxis"]["title"]["text"] == axis
    assert "coefficient (per standard deviation" not in html
    assert "for a multiclass model, each input&#39;s norm over the classes&#39; weights" in html
