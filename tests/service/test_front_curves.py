"""A trial of several objectives has its learning curve in ``GET /v1/studies/{id}/trials/{n}``
as a trial of one has: Optuna records no intermediate value of such a trial, so every MLP trial
of ``objectives: [val_rmse, n_inputs]`` answered ``"learning_curve": []``, its epochs' values
only in the user attribute ``val_curve``. Now its curve is ``val_curve`` by epoch, ending at its
``epochs_run``, a diverged epoch's value left out as a trial of one objective leaves it."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.inprocess import Apps
from tests.worker.test_fused_trials import run_worker

EPOCHS = 4
FRONT: dict[str, Any] = {
    "name": "front-curves",
    "dataset": {"builtin": "diabetes"},
    "model": {"kind": "mlp", "hidden_layers": [8]},
    "objectives": ["val_rmse", "n_inputs"],
    "search_space": {"lambda": {"low": 1e-4, "high": 1e-1, "log": True}, "learning_rate": 1e-2},
    "training": {"max_epochs": EPOCHS, "batch_size": 64, "early_stopping": None},
    "validation": {"holdout": 0.2},
    "sampler": {"type": "nsgaii", "seed": 0},
    "pruner": {"type": "none"},
    "budget": {"n_trials": 2, "max_parallel": 1},
}
STOPPING = {"early_stopping": {"patience": 1, "min_delta": 1000.0}}
"""No epoch improves val_rmse by 1000 on the first: every trial stops at epoch 2."""
DIVERGING = {"optimizer": "sgd"}
"""With ``learning_rate`` 5 to 10: every trial's loss diverges."""


def _trials(apps: Apps, training: dict[str, Any], space: dict[str, Any]) -> list[dict[str, Any]]:
    api = apps()
    body = FRONT | {
        "training": FRONT["training"] | training,
        "search_space": FRONT["search_space"] | space,
    }
    study_id = api.post("/v1/studies", json=body).json()["id"]
    assert run_worker(2) == 2
    trials = [api.get(f"/v1/studies/{study_id}/trials/{n}").json() for n in range(2)]
    assert all(t["state"] == "COMPLETE" for t in trials), trials
    return trials


@pytest.mark.parametrize(
    ("training", "space", "ran"),
    [({}, {}, EPOCHS), (STOPPING, {}, 2)],
    ids=["to-max-epochs", "stopped-early"],
)
def test_a_front_trial_has_its_learning_curve(
    apps: Apps, training: dict[str, Any], space: dict[str, Any], ran: int
) -> None:
    for trial in _trials(apps, training, space):
        attrs = trial["user_attrs"]
        assert attrs["epochs_run"] == ran, attrs
        curve = trial["learning_curve"]
        assert [point["epoch"] for point in curve] == list(range(1, ran + 1)), trial
        assert [point["value"] for point in curve] == pytest.approx(attrs["val_curve"])


def test_a_diverged_front_trial_s_curve_leaves_its_diverged_epoch_out(apps: Apps) -> None:
    for trial in _trials(apps, DIVERGING, {"learning_rate": {"low": 5, "high": 10}}):
        attrs = trial["user_attrs"]
        ran = attrs["epochs_run"]
        assert attrs["diverged"] is True and attrs["diverged_epoch"] == ran, attrs
        last = attrs["val_curve"][-1]  # NaN, which JSON carries as null
        assert last is None or not math.isfinite(last), attrs
        curve = trial["learning_curve"]
        assert [point["epoch"] for point in curve] == list(range(1, ran)), trial
        assert [point["value"] for point in curve] == pytest.approx(attrs["val_curve"][:-1])
