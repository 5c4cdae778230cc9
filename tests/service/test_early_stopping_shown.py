"""Which trials early stopping ended, and at which epoch, is shown where a user looks, as PRUNED
trials are: ``regtune trials`` marks them in its epochs column with their best epoch, ``regtune
show`` (``GET /v1/studies/{id}``'s ``stopped_early``) counts them, and the study report says how
many and after how many epochs (was: only each trial's user attributes held it). A linear study
of the exact solver, whose trials have no epochs to stop at, shows nothing of it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.inprocess import Apps, cli_output, run_to_the_end
from tests.service.test_rest_contract import definition

STOPPING: dict[str, Any] = {
    "name": "stopping",
    "dataset": {"builtin": "diabetes"},
    "model": {"kind": "mlp", "hidden_layers": [8]},
    "search_space": {"lambda": {"low": 1e-4, "high": 1e-2, "log": True}, "learning_rate": 1e-2},
    # no epoch improves val_loss by 1000 on the first: every trial stops at epoch 2, its best 1
    "training": {
        "max_epochs": 20,
        "batch_size": 64,
        "early_stopping": {"patience": 1, "min_delta": 1000.0},
    },
    "validation": {"holdout": 0.2},
    "sampler": {"type": "random", "seed": 0},
    "pruner": {"type": "none"},
    "budget": {"n_trials": 2, "max_parallel": 1},
}


def test_trials_that_early_stopping_ended_are_shown_with_their_epochs(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = apps()
    study = run_to_the_end(api, api.post("/v1/studies", json=STOPPING).json()["id"])
    assert study["status"] == "completed" and study["stopped_early"] == 2, study

    trials = cli_output(api, monkeypatch, "trials", study["id"])
    assert trials.count("│ COMPLETE │") == 2, trials
    assert trials.count("│ 2, stopped early (best 1) │") == 2, trials
    shown = cli_output(api, monkeypatch, "show", study["id"])
    assert "counts: COMPLETE 2; 2 of the COMPLETE stopped early (early_stopping)" in shown, shown

    said = "2 of the 2 COMPLETE trials stopped early (training.early_stopping) after 2 of "
    said += "training.max_epochs 20 epochs"
    report = api.get(f"/v1/studies/{study['id']}/report").text
    assert f'<span id="stopped-early">{said}</span>' in report, report[:3000]
    assert f"{said}." in report  # the learning curves' note too


def test_a_linear_exact_study_shows_nothing_of_early_stopping(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = apps()
    study = run_to_the_end(api, api.post("/v1/studies", json=definition("exact", 2)).json()["id"])
    assert study["status"] == "completed" and study["stopped_early"] == 0, study
    trials = cli_output(api, monkeypatch, "trials", study["id"])
    assert trials.count("│ COMPLETE │") == 2 and "stopped early" not in trials, trials
    assert "stopped early" not in cli_output(api, monkeypatch, "show", study["id"])
    assert 'id="stopped-early"' not in api.get(f"/v1/studies/{study['id']}/report").text
