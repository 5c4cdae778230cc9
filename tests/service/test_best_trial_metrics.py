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


def test_without_a_test_split_every_test_metric_is_null_also_from_an_older_record(
    api: TestClient,
) -> None:
    """``validation.test_fraction: 0``: the trial's, the refit's and the saved model's test
    metrics are all null, the model's also where an older worker stored ``{}`` (a worker now
    stores null: ``tests/worker/test_no_test_split.py``)."""
    body = copy.deepcopy(EXAMPLE) | {"name": "no-test", "validation": {"test_fraction": 0}}
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    study = optuna.load_study(study_name=created.json()["optuna_study_name"], storage=get_storage())
    trial = study.ask({"lambda": optuna.distributions.FloatDistribution(1e-5, 10, log=True)})
    study.tell(trial, 1.0)
    study.set_user_attr(
        BEST_MODEL_ATTR,
        {"artifact_id": "a", "trial": 0, "filename": "m.safetensors", "bytes": 1, "sha256": "0",
         "test_metrics": {}, "val_metrics": {}, "refit": True, "refit_rows": "all",
         "train_rows": 442, "created_at": "2026-01-01T00:00:00+00:00"},
    )  # fmt: skip
    shown = api.get(f"/v1/studies/{created.json()['id']}").json()
    assert shown["best_model"]["test_metrics"] is None
    assert shown["best_trial"]["test_metrics"] is None
    assert shown["best_trial"]["refit_test_metrics"] is None
