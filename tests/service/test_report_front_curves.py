"""The report draws the learning curves of a study of several objectives: Optuna records no
intermediate value of its trials, so the report of an MLP study of ``objectives: [val_rmse,
n_inputs]`` drew none, though each trial keeps its curve in its ``val_curve`` user attribute (as
``GET /v1/studies/{id}/trials/{n}`` reads it). Now the report draws that curve by epoch, under a
title that speaks of neither pruned trials nor steps (Optuna prunes none of such a study's)."""

from __future__ import annotations

import json
import math
import re
import uuid
from typing import Any

import optuna
from fastapi.testclient import TestClient
from optuna.distributions import BaseDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial
from sqlalchemy import update

from regtune.service.spec.definition import StudySpec
from regtune.service.store.db import transaction
from regtune.service.store.repos.study_creation import create_study
from regtune.service.store.scheduling.retries import get_storage
from regtune.service.store.tables import StudyRow

optuna.logging.set_verbosity(optuna.logging.WARNING)
SPACE: dict[str, BaseDistribution] = {"lambda": FloatDistribution(1e-4, 1e-1, log=True)}
TRIALS: list[tuple[float, int, list[float]]] = [
    (0.01, 4, [3.0, 2.0, 1.5, 1.2]),  # ran to max_epochs
    (0.02, 2, [2.5, 2.4]),  # stopped early
    (0.05, 2, [2.8, math.nan]),  # diverged at its second epoch
]
"""(λ, epochs_run, val_curve) of each trial, numbered in this order."""


MLP = {
    "model": {"kind": "mlp", "hidden_layers": [8]},
    "training": {"max_epochs": 4, "early_stopping": {"patience": 1}},
}


def _front_study(kind: dict[str, Any] = MLP) -> str:
    spec = StudySpec.model_validate(
        {
            "name": f"front-report-{uuid.uuid4().hex[:8]}",
            "dataset": {"builtin": "diabetes"},
            "objectives": ["val_rmse", "n_inputs"],
            "search_space": {"lambda": {"low": 1e-4, "high": 1e-1, "log": True}},
            "sampler": {"type": "nsgaii", "seed": 0},
            "pruner": {"type": "none"},
            "budget": {"n_trials": len(TRIALS)},
        }
        | kind
    )
    row = create_study(spec)
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    for i, (lam, ran, curve) in enumerate(TRIALS):
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE,
                values=[[v for v in curve if math.isfinite(v)][-1], 10.0 - i],
                params={"lambda": lam},
                distributions=SPACE,
                user_attrs={"epochs_run": ran, "val_curve": curve, "n_inputs": 10.0 - i},
            )
        )
    with transaction() as session:
        session.execute(update(StudyRow).where(StudyRow.id == row.id).values(status="completed"))
    return row.id


def _figures(html: str) -> list[dict[str, Any]]:
    """The page's figures, as the script that draws each one is given them."""
    return [json.loads(found) for found in re.findall(r'draw\("regtune-plot-\d+", (.*?)\);', html)]


def test_a_front_study_s_report_draws_its_trials_learning_curves(api: TestClient) -> None:
    study_id = _front_study()
    html = api.get(f"/v1/studies/{study_id}/report").text

    assert "<h2>Learning curves</h2>" in html
    (figure,) = [
        f for f in _figures(html) if f["layout"]["title"]["text"].startswith("Learning curves")
    ]
    assert figure["layout"]["title"]["text"] == (
        "Learning curves: complete trials (a sample), val_rmse per epoch"
    )
    assert figure["layout"]["xaxis"]["title"]["text"] == "epoch"
    drawn = {trace["hovertext"]: (trace["x"], trace["y"]) for trace in figure["data"]}
    assert drawn == {
        "trial 0": ([1, 2, 3, 4], [3.0, 2.0, 1.5, 1.2]),
        "trial 1": ([1, 2], [2.5, 2.4]),
        "trial 2": ([1], [2.8]),  # the diverged epoch's NaN left out
    }
    assert {trace["name"] for trace in figure["data"]} == {"complete"}
    assert "against pruned" not in html and "per step" not in html
    assert "pruned trial" not in html and "steps saved" not in html


def test_a_linear_front_study_s_curves_are_by_block_of_iterations(api: TestClient) -> None:
    """The exact solver reports a block of iterations at a time, not an epoch."""
    study_id = _front_study({"model": {"kind": "linear"}, "training": {"lambda_path": None}})
    html = api.get(f"/v1/studies/{study_id}/report").text
    (figure,) = (
        f for f in _figures(html) if f["layout"]["title"]["text"].startswith("Learning curves")
    )
    assert figure["layout"]["title"]["text"] == (
        "Learning curves: complete trials (a sample), val_rmse per block of iterations"
    )
    assert figure["layout"]["xaxis"]["title"]["text"] == "block of iterations"
