"""A study over HTTP, run by real worker processes, stored in a real SQLite file."""

from __future__ import annotations

from typing import Any

import httpx
import optuna

from tests.support import Stack, StackFactory, wait_for

MLP_STUDY: dict[str, Any] = {
    "name": "diabetes-mlp",
    "dataset": {"builtin": "diabetes"},
    "model": {"kind": "mlp", "hidden_layers": [32]},
    "search_space": {
        "lambda": {"low": 1e-5, "high": 1.0, "log": True},
        "l1_ratio": {"low": 0.0, "high": 1.0},
        "dropout": {"low": 0.0, "high": 0.5},
        "learning_rate": {"low": 1e-3, "high": 3e-2, "log": True},
    },
    "training": {"max_epochs": 20, "batch_size": 64},
    "sampler": {"type": "tpe", "seed": 0},
    "pruner": {"type": "hyperband", "min_resource": 1, "reduction_factor": 3},
    "budget": {"n_trials": 12, "max_parallel": 2},
}


def _trials(stack: Stack, study_id: str) -> list[dict[str, Any]]:
    page = httpx.get(f"{stack.url}/v1/studies/{study_id}/trials", params={"limit": 500}, timeout=30)
    assert page.status_code == 200
    return page.json()["items"]


def test_study_runs_end_to_end(stack_factory: StackFactory, sqlite_url: str) -> None:
    stack = stack_factory(sqlite_url).start_api()
    stack.start_workers(2)
    created = httpx.post(f"{stack.url}/v1/studies", json=MLP_STUDY, timeout=30)
    assert created.status_code == 201, created.text
    study_id = created.json()["id"]
    assert created.headers["location"] == f"/v1/studies/{study_id}"
    assert created.json()["definition"]["task"] == "regression"  # auto resolved and stored

    study = stack.wait_status(study_id, timeout=600)
    counts = study["counts"]
    assert counts["COMPLETE"] + counts["PRUNED"] == 12
    assert counts["PRUNED"] >= 1
    assert counts["RUNNING"] == 0
    assert study["progress"]["done"] == 12

    best = study["best_trial"]
    space = MLP_STUDY["search_space"]
    for name, bounds in space.items():
        assert bounds["low"] <= best["params"][name] <= bounds["high"]
    assert best["n_nonzero"] is not None and best["n_nonzero"] > 0
    assert best["test_metrics"] and "r2" in best["test_metrics"]

    # Optuna itself, on the same file, sees the same trials.
    optuna_study = optuna.load_study(study_name=study["optuna_study_name"], storage=sqlite_url)
    ours = {t["number"]: t for t in _trials(stack, study_id)}
    assert {t.number for t in optuna_study.trials} == set(ours)
    for trial in optuna_study.trials:
        assert ours[trial.number]["state"] == trial.state.name
        assert ours[trial.number]["params"] == trial.params
    assert optuna_study.best_trial.number == best["number"]

    detail = httpx.get(f"{stack.url}/v1/studies/{study_id}/trials/{best['number']}", timeout=30)
    curve = detail.json()["learning_curve"]
    assert [p["epoch"] for p in curve] == list(range(1, len(curve) + 1))
    assert len(curve) == detail.json()["user_attrs"]["epochs_run"]
    assert "val_r2" in detail.json()["user_attrs"]


def test_cancel_stops_running_trials_within_a_heartbeat_and_an_epoch(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    """A cancel reaches a running trial on its worker's heartbeat (1 s here): it stops about
    one heartbeat interval plus one epoch later (0.5 s epochs of the sleep objective: 3 epochs),
    long before its 200 epochs; the bound leaves a loaded machine 10 s (20 epochs), so that it
    holds the behaviour, not this machine's timing."""
    stack = stack_factory(
        sqlite_url,
        REGTUNE_OBJECTIVE_FACTORY="bench.sleep_objective:make_objective",
        REGTUNE_SLEEP_TRIAL_SECONDS="100",
    ).start_api()
    stack.start_workers(1)
    slow = {
        "name": "slow-sleep",
        "dataset": {"builtin": "diabetes"},
        "model": {"kind": "linear"},
        "search_space": {"lambda": {"low": 1e-4, "high": 1.0, "log": True}},
        # one trial per claim: a sleeping λ path reports no epoch until its points are solved
        "training": {"max_epochs": 200, "early_stopping": None, "lambda_path": None},
        "pruner": {"type": "none"},
        "budget": {"n_trials": 3},
    }
    study_id = stack.submit(slow)["id"]

    def running_trial() -> dict[str, Any] | None:
        for trial in _trials(stack, study_id):
            if trial["state"] == "RUNNING":
                detail = httpx.get(
                    f"{stack.url}/v1/studies/{study_id}/trials/{trial['number']}", timeout=30
                ).json()
                if len(detail["learning_curve"]) >= 2:
                    return detail
        return None

    trial = wait_for(running_trial, timeout=240, what="a trial with two epochs")
    cancelled = httpx.post(f"{stack.url}/v1/studies/{study_id}/cancel", timeout=30)
    assert cancelled.status_code == 200
    epochs_seen = len(
        httpx.get(f"{stack.url}/v1/studies/{study_id}/trials/{trial['number']}", timeout=30).json()[
            "learning_curve"
        ]
    )

    def settled() -> bool:
        return all(t["state"] != "RUNNING" for t in _trials(stack, study_id))

    wait_for(settled, timeout=120, what="no RUNNING trial")
    final = httpx.get(f"{stack.url}/v1/studies/{study_id}/trials/{trial['number']}", timeout=30)
    assert len(final.json()["learning_curve"]) <= epochs_seen + 20
    assert final.json()["state"] == "FAIL"
    assert "the study was cancelled while the trial ran" in final.json()["user_attrs"]["error"]
    study = stack.study(study_id)
    assert study["status"] == "cancelled"
    assert study["counts"]["RUNNING"] == 0
    # cancelling it again answers it as it is, still cancelled
    again = httpx.post(f"{stack.url}/v1/studies/{study_id}/cancel", timeout=30)
    assert again.status_code == 200 and again.json()["status"] == "cancelled"
