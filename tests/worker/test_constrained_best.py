"""A study with ``objective.max_nonzero``: optuna-dashboard's "Best Trial", Optuna's
``best_trial``, the API's best trial and the saved model's trial are one trial, the best value
within the limit, and the study's ``regtune:chosen_because`` says the limit chose it (the
dashboard named the best value over the limit, and the note said "the best val_loss" beside 23
trials with a better one)."""

from __future__ import annotations

from typing import Any

import httpx
import optuna
from optuna_dashboard import wsgi

from regtune.service.store.optuna_db.storage import make_storage
from tests.inprocess import Apps, run_to_the_end

DEFINITION: dict[str, Any] = {
    "name": "constrained",
    "dataset": {
        "synthetic": {
            "kind": "sparse_regression",
            "n_samples": 2000,
            "n_features": 20,
            "n_informative": 5,
            "seed": 0,
        }
    },
    "model": {"kind": "linear"},
    "search_space": {
        "lambda": {"low": 1e-4, "high": 1.0, "log": True},
        "l1_ratio": 1.0,
        "relax": 0,  # no relax margin's note: the limit alone shapes the choice
    },
    "objective": {"metric": "val_loss", "max_nonzero": 5},
    "sampler": {"type": "tpe", "seed": 0},
    "budget": {"n_trials": 24},
}


def test_the_dashboards_best_trial_is_the_best_within_max_nonzero(apps: Apps) -> None:
    api = apps()
    created = api.post("/v1/studies", json=DEFINITION)
    assert created.status_code == 201, created.text
    study = run_to_the_end(api, created.json()["id"], timeout=300)
    best = study["best_trial"]
    assert best is not None and best["user_attrs"]["feasible"] is True

    # what `regtune dashboard` serves: optuna-dashboard on regtune's storage
    storage = make_storage(f"sqlite:///{Apps.database_path(api)}")
    name = study["optuna_study_name"]
    trials = optuna.load_study(study_name=name, storage=storage).get_trials()
    over = [t for t in trials if t.constraints["max_nonzero"] > 0]
    assert any(t.value is not None and t.value < best["value"] for t in over)  # the limit chose
    dashboard = httpx.Client(transport=httpx.WSGITransport(app=wsgi(storage)), base_url="http://d")
    summaries = dashboard.get("/api/studies").json()["study_summaries"]
    sid = next(s["study_id"] for s in summaries if s["study_name"] == name)
    detail = dashboard.get(f"/api/studies/{sid}").json()
    assert [t["number"] for t in detail["best_trials"]] == [best["number"]]
    optuna_study = optuna.load_study(study_name=name, storage=storage)
    assert optuna_study.best_trial.number == best["number"]
    assert study["best_model"]["trial"] == best["number"]
    attrs = optuna_study.user_attrs
    assert attrs["regtune:chosen_trial"] == best["number"]
    assert attrs["regtune:chosen_because"] == (
        "the best val_loss within objective.max_nonzero 5; the saved best model is this trial's"
    )
    storage.engine.dispose()
