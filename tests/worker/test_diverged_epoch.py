"""A diverged trial says which epoch diverged: its loss turned NaN or infinite at its last epoch,
``epochs_run``, whose value is not reported (Optuna takes no NaN), so its learning curve ends
an epoch before. It answered ``"epochs_run": 1, "best_epoch": 0, "diverged": true`` beside
``"learning_curve": []``, an epoch run that no curve showed; now its user attribute
``diverged_epoch`` names that epoch, one at a time and in a fused pass alike."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.inprocess import Apps
from tests.worker.test_fused_trials import run_worker

DIVERGING: dict[str, Any] = {
    "name": "diverging",
    "dataset": {"builtin": "diabetes"},
    "model": {"kind": "mlp", "hidden_layers": [16]},
    "search_space": {"learning_rate": {"low": 5, "high": 10}},
    "training": {"optimizer": "sgd", "max_epochs": 5},
    "validation": {"holdout": 0.2},
    "sampler": {"type": "random", "seed": 0},
    "pruner": {"type": "none"},
    "budget": {"n_trials": 2, "max_parallel": 2},
}


@pytest.mark.parametrize("fused_trials", [1, 2])
def test_a_diverged_trial_names_the_epoch_its_curve_leaves_out(
    apps: Apps, fused_trials: int
) -> None:
    api = apps()
    body = DIVERGING | {"training": DIVERGING["training"] | {"fused_trials": fused_trials}}
    study_id = api.post("/v1/studies", json=body).json()["id"]
    assert run_worker(2) == 2  # the trials alone: no model of diverged trials to wait for
    study = api.get(f"/v1/studies/{study_id}").json()
    assert study["counts"].get("COMPLETE") == 2, study
    for number in range(2):
        trial = api.get(f"/v1/studies/{study['id']}/trials/{number}").json()
        attrs = trial["user_attrs"]
        assert attrs["diverged"] is True and trial["value"] is None, trial  # +inf
        assert attrs.get("fused", False) is (fused_trials > 1), attrs
        ran = attrs["epochs_run"]
        assert attrs["diverged_epoch"] == ran, attrs  # the last epoch, the one that diverged
        curve = trial["learning_curve"]
        assert [point["epoch"] for point in curve] == list(range(1, ran)), trial
        assert all(math.isfinite(point["value"]) for point in curve), curve
