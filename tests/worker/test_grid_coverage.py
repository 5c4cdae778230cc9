"""A grid study walks its whole grid, one point per trial, however many claims run it: every
claim builds its own sampler, and a trial's ``grid_id`` must name the same point in all of
them."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.inprocess import Apps, run_to_the_end


def test_a_grid_study_runs_every_point_of_its_grid_once(apps: Apps) -> None:
    api: TestClient = apps()
    definition = {
        "name": "grid",
        "dataset": {"builtin": "digits"},
        "model": {"kind": "mlp", "hidden_layers": [8]},
        "search_space": {
            "lambda": 1e-4,
            "l1_ratio": 0.5,
            "dropout": {"choices": [0.0, 0.2]},
            "batch_size": {"choices": [32, 64, 128]},
            "learning_rate": 1e-2,
        },
        "training": {"max_epochs": 2, "early_stopping": None, "fused_trials": 1},
        "sampler": {"type": "grid", "seed": 0},
        "pruner": {"type": "none"},
        "budget": {"n_trials": 6, "max_parallel": 1},
    }
    created = api.post("/v1/studies", json=definition)
    assert created.status_code == 201, created.text

    done = run_to_the_end(api, created.json()["id"])

    assert done["status"] == "completed", done
    trials = api.get(f"/v1/studies/{done['id']}/trials", params={"limit": 50}).json()["items"]
    walked = sorted((t["params"]["dropout"], t["params"]["batch_size"]) for t in trials)
    assert walked == [(d, b) for d in (0.0, 0.2) for b in (32, 64, 128)]
