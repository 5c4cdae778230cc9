"""The best trial's test metrics are the trial's own; the refit model's are shown beside them,
named for what they are (issue 22, item 9: ``best_trial.test_metrics`` held the refit's)."""

from __future__ import annotations

import copy

import optuna
from fastapi.testclient import TestClient

from regtune.service.spec.definition import EXAMPLE
from regtune.service.store.optuna_db.attrs import BEST_MODEL_ATTR
from regtune.service.store.scheduling.retries import get_storage

TRIAL = {"loss": 0.42, "r2": 0.51}
REFIT = {"loss": 0.31, "r2": 0.47}


def test_the_trials_and_the_refit_models_test_metrics_are_both_shown(api: TestClient) -> None:
    client = api
    body = copy.deepcopy(EXAMPLE)
    body["name"] = "metrics"
    created = client.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    study = optuna.load_study(study_name=created.json()["optuna_study_name"], storage=get_storage())
    trial = study.ask({"lambda": optuna.distributions.FloatDistribution(1e-5, 10, log=True)})
    for name, value in TRIAL.items():
        trial.set_user_attr(f"test_{name}", value)
    study.tell(trial, 1.0)
    study_id = created.json()["id"]

    before = client.get(f"/v1/studies/{study_id}").json()["best_trial"]
    assert before["test_metrics"] == TRIAL
    assert before["refit_test_metrics"] is None

    study.set_user_attr(
        BEST_MODEL_ATTR,
        {"artifact_id": "a", "trial": 0, "filename": "m.safetensors", "bytes": 1, "sha256": "0",
         "test_metrics": REFIT, "val_metrics": {}, "refit": True,
         "created_at": "2026-01-01T00:00:00+00:00"},
    )  # fmt: skip
    after = client.get(f"/v1/studies/{study_id}").json()
    assert after["best_trial"]["test_metrics"] == TRIAL
    assert after["best_trial"]["refit_test_metrics"] == REFIT
    assert after["best_model"]["test_metrics"] == REFIT
