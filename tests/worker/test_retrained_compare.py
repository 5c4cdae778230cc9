"""Under ``refit: false`` the worker checks that the retrained best trial reproduces it, and warns
when it does not. Under folds the trial's test metrics are its fold models' mean, and the check
compared them with the saved ensemble's (the fold models' predictions averaged): another figure,
so every such study warned that its retrained trial "differs from the trial's" (test_loss
0.2857 against 0.2818 on diabetes)."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from tests.inprocess import run_to_the_end

DEFINITION = {
    "name": "own-models-compared",
    "dataset": {"builtin": "diabetes"},
    "model": {"kind": "linear"},
    "search_space": {"lambda": 1e-3, "l1_ratio": 0.5},  # one cold solve: no warm start
    "refit": False,
    "validation": {"folds": 5},
    "pruner": {"type": "none"},
    "budget": {"n_trials": 1, "max_parallel": 1},
}


def _differences(
    api: TestClient, caplog: pytest.LogCaptureFixture, definition: dict[str, object]
) -> list[str]:
    """Run ``definition`` (``refit: false``) to the end → the worker's "differs from the trial"
    warnings."""
    created = api.post("/v1/studies", json=definition)
    assert created.status_code == 201, created.text
    with caplog.at_level(logging.WARNING, logger="regtune.worker.best_model"):
        study = run_to_the_end(api, created.json()["id"])
    assert study["status"] == "completed" and study["best_model"]["refit"] is False, study
    return [r.getMessage() for r in caplog.records if "differs from the trial" in r.getMessage()]


def test_a_retrained_trial_under_folds_is_not_said_to_differ_from_itself(
    api: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    assert _differences(api, caplog, DEFINITION) == []


WARM = {  # λ paths: each point warm-started from the one before, the retrain a cold solve
    **DEFINITION,
    "name": "warm-started-compared",
    "search_space": {"lambda": {"low": 1e-4, "high": 1.0, "log": True}, "l1_ratio": 0.5},
    "validation": {"holdout": 0.2},
    "budget": {"n_trials": 12, "max_parallel": 1},
}


def test_a_warm_started_trial_retrained_cold_is_not_said_to_differ_from_itself(
    api: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The exact solver's warm and cold solves agree to its tolerance (README: a path point
    equals a cold solve at its λ to 1e-6), not to the last bits."""
    assert _differences(api, caplog, WARM) == []
