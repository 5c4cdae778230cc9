"""A study run again gives the same answer (README, "Reproducibility"): with one worker and a
seeded sampler, the same definition gives the same trials, best trial and saved model, fused MLP
trials with dropout and input noise included; and a trial's result is its configuration's,
whichever trials a worker fused it with."""

from __future__ import annotations

import contextvars
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from safetensors.numpy import load_file

from tests.inprocess import Apps, run_to_the_end


def mlp_study(name: str, **parts: Any) -> dict[str, Any]:
    return {
        "name": name,
        "dataset": {"builtin": "diabetes"},
        "model": {"kind": "mlp", "hidden_layers": [16]},
        "search_space": {
            "lambda": {"low": 1e-5, "high": 1e-1, "log": True},
            "learning_rate": {"low": 3e-3, "high": 3e-2, "log": True},
            "dropout": {"low": 0.0, "high": 0.4},
            "input_noise": {"low": 0.0, "high": 0.3},
        },
        "training": {
            "max_epochs": 6,
            "batch_size": 64,
            "fused_trials": 4,
            "early_stopping": {"patience": 2},
        },
        "sampler": {"type": "tpe", "seed": 3, "n_startup_trials": 4},
        "pruner": {"type": "median", "n_startup_trials": 2, "n_warmup_steps": 1},
        "budget": {"n_trials": 10, "max_parallel": 4},
    } | parts


def trials(api: TestClient, study_id: str) -> list[dict[str, Any]]:
    """Every trial as a rerun must give it back: all but the clock's figures."""
    page = api.get(f"/v1/studies/{study_id}/trials", params={"limit": 100}).json()["items"]
    kept = []
    for listed in page:
        trial = api.get(f"/v1/studies/{study_id}/trials/{listed['number']}").json()
        attrs = {k: v for k, v in trial["user_attrs"].items() if not k.endswith("_seconds")}
        curve = [(p["epoch"], p["value"]) for p in trial["learning_curve"]]
        kept.append(
            {k: trial[k] for k in ("number", "state", "params", "value")}
            | {"user_attrs": attrs, "curve": curve}
        )
    return sorted(kept, key=lambda t: t["number"])


def run(apps: Apps, tmp_path: Path, definition: dict[str, Any]) -> dict[str, Any]:
    """The definition on a new database, one worker, to the end: what came out."""
    api = apps()
    created = api.post("/v1/studies", json=definition)
    assert created.status_code == 201, created.text
    study = run_to_the_end(api, created.json()["id"])
    assert study["status"] == "completed", study
    model = api.get(f"/v1/studies/{study['id']}/best-model")
    assert model.status_code == 200, model.text
    path = tmp_path / f"{study['id']}.safetensors"
    path.write_bytes(model.content)
    return {
        "trials": trials(api, study["id"]),
        "best_trial": study["best_trial"]["number"],
        "test_metrics": study["best_model"]["test_metrics"],
        "weights": {k: v.tolist() for k, v in load_file(path).items()},
    }


@pytest.mark.parametrize("refit", [True, False], ids=["refit", "own-models"])
def test_one_worker_runs_the_same_definition_to_the_same_study(
    apps: Apps, tmp_path: Path, refit: bool
) -> None:
    """``refit: false`` too, whose saved model is the best member retrained as a pass of one."""
    first, again = (run(apps, tmp_path, mlp_study("again", refit=refit)) for _ in range(2))
    assert len(first["trials"]) == 10
    complete = [t for t in first["trials"] if t["state"] == "COMPLETE"]
    assert all(t["user_attrs"]["fused"] is True for t in complete)  # in passes of 4
    assert {t["state"] for t in first["trials"]} == {"COMPLETE", "PRUNED"}  # the pruner acted
    assert again == first


def test_one_worker_runs_the_same_hyperband_study_again(apps: Apps, tmp_path: Path) -> None:
    """Hyperband places each trial in a bracket: drawn from the study's Optuna name, which
    carries its id, it differed between two submissions of one definition, and so did the
    trials pruned; drawn from the stored seed, the study runs again as it ran. Two batch sizes
    make two groups in a pass: a member compares its rung with members that ended before it."""
    hyperband = {"type": "hyperband", "min_resource": 1, "reduction_factor": 2}
    definition = mlp_study("brackets", pruner=hyperband)
    definition["search_space"] |= {"batch_size": {"choices": [32, 64]}}
    del definition["training"]["batch_size"]  # said once: the search space's
    first, again = (run(apps, tmp_path, definition) for _ in range(2))
    assert {t["state"] for t in first["trials"]} == {"COMPLETE", "PRUNED"}
    assert again == first


def run_worker(max_trials: int) -> int:
    from regtune.worker.loop import Worker

    return contextvars.copy_context().run(Worker().run, max_trials=max_trials)


def test_a_trial_scores_the_same_in_a_pass_of_two_as_in_a_pass_of_four(apps: Apps) -> None:
    """The random sampler gives trial n the same parameters in both studies (its seed is the
    claim's), so only the passes differ: trials 0–3 in one pass against two passes of two. A
    member drew its noise and masks at its position in one draw for the stack, and so scored
    otherwise in the other study."""
    api = apps()
    ids = []
    for width in (2, 4):
        definition = mlp_study(f"width-{width}")
        definition["training"] |= {"fused_trials": width, "early_stopping": None}
        definition |= {"sampler": {"type": "random", "seed": 3}, "pruner": {"type": "none"}}
        definition["budget"]["n_trials"] = 4
        created = api.post("/v1/studies", json=definition)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    assert run_worker(8) == 8

    two, four = (trials(api, study_id) for study_id in ids)
    assert [t["params"] for t in two] == [t["params"] for t in four]
    assert all(t["params"]["dropout"] > 0 and t["params"]["input_noise"] > 0 for t in two)
    for a, b in zip(two, four, strict=True):
        assert a["value"] == pytest.approx(b["value"], rel=1e-6), (a["number"], a, b)


def test_a_study_left_unseeded_stores_the_seed_it_drew_and_runs_again_from_its_definition(
    apps: Apps, tmp_path: Path
) -> None:
    """Left out (here the whole sampler), the sampler's seed is drawn when the study is created
    and stored: the same definition submitted again is another study with trials of its own (as
    an unseeded sampler in Optuna), and the definition ``GET /v1/studies/{id}`` shows runs the
    same study again, so the worker's samplers draw from the stored seed."""
    definition = {
        "name": "unseeded",
        "dataset": {"builtin": "diabetes"},
        "model": {"kind": "linear"},
        "search_space": {
            "lambda": {"low": 1e-4, "high": 1.0, "log": True},
            "l1_ratio": {"low": 0.0, "high": 1.0},
        },
        "budget": {"n_trials": 4},
    }
    first = run(apps, tmp_path, definition)
    api = apps.clients[-1]
    (study,) = api.get("/v1/studies").json()["items"]
    stored = api.get(f"/v1/studies/{study['id']}").json()["definition"]
    assert isinstance(stored["sampler"]["seed"], int)

    other = run(apps, tmp_path, definition)
    assert [t["params"] for t in other["trials"]] != [t["params"] for t in first["trials"]]
    again = run(apps, tmp_path, stored)
    assert again == first


def test_a_definition_submitted_again_to_the_same_worker_runs_as_the_first(
    apps: Apps, tmp_path: Path
) -> None:
    """The exact solver starts a trial from the nearest configuration its process solved for the
    study: kept per definition, a study submitted again (after a delete, by another tenant)
    started from the first one's solutions, and ended elsewhere within ``tol`` in other
    iteration counts (trial 0: 52 iterations, then 1). This process's worker runs both."""
    definition = {
        "name": "again-exact",
        "dataset": {"builtin": "breast_cancer"},
        "model": {"kind": "linear"},
        "search_space": {
            "lambda": {"low": 1e-4, "high": 1.0, "log": True},
            "l1_ratio": {"low": 0.0, "high": 1.0},
        },
        "training": {"lambda_path": None},
        "sampler": {"type": "tpe", "seed": 2},
        "budget": {"n_trials": 4},
    }
    first, again = (run(apps, tmp_path, definition) for _ in range(2))
    assert all(t["user_attrs"]["iterations"] > 1 for t in first["trials"][:1])
    assert again == first
