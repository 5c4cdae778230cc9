"""Fused trials through the service, in this process: a worker claims up to ``fused_trials`` slots
of an MLP study and trains them in one pass, and every member is still a trial of its own (its
parameters, learning curve, pruning, attributes, row), with the study's counts exact."""

from __future__ import annotations

import contextvars
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient

from regtune.service.store.db import transaction
from regtune.service.store.tables import ClaimRow
from tests.inprocess import Apps, run_to_the_end, trials_running, worker_thread
from tests.support import wait_for

EPOCHS = 4


def mlp_study(name: str, n_trials: int, **training: Any) -> dict[str, Any]:
    return {
        "name": name,
        "dataset": {"builtin": "digits"},
        "model": {"kind": "mlp", "hidden_layers": [16]},
        "search_space": {
            "lambda": {"low": 1e-5, "high": 1e-1, "log": True},
            "l1_ratio": {"low": 0.0, "high": 1.0},
            "learning_rate": {"low": 1e-3, "high": 3e-2, "log": True},
            "dropout": {"low": 0.0, "high": 0.3},
            "batch_size": {"choices": [64, 128]},
        },
        "training": {"max_epochs": EPOCHS, "early_stopping": None, **training},
        "sampler": {"type": "tpe", "seed": 0, "n_startup_trials": 2},
        "pruner": {"type": "threshold", "upper": 2.2, "n_warmup_steps": 1},
        "budget": {"n_trials": n_trials, "max_parallel": 4},
    }


def run_worker(max_trials: int) -> int:
    from regtune.worker.loop import Worker

    return contextvars.copy_context().run(Worker().run, max_trials=max_trials)


def test_each_fused_member_is_a_trial_of_its_own_and_the_counts_are_exact(
    apps: Apps, caplog: pytest.LogCaptureFixture
) -> None:
    api: TestClient = apps()
    created = api.post("/v1/studies", json=mlp_study("fused", 6, fused_trials=4))
    assert created.status_code == 201, created.text
    study_id = created.json()["id"]

    with caplog.at_level(logging.INFO, logger="regtune.worker.fused"):
        assert run_worker(6) == 6

    fused = [r for r in caplog.records if "started (fused)" in r.getMessage()]
    assert len(fused) == 6  # 4 in one pass (max_parallel 4), then the 2 the budget left
    study = api.get(f"/v1/studies/{study_id}").json()
    assert study["status"] == "completed" and study["progress"]["done"] == 6, study
    assert study["counts"].get("RUNNING", 0) == 0 and study["counts"].get("FAIL", 0) == 0
    with transaction() as session:
        assert session.query(ClaimRow).count() == 0
    trials = api.get(f"/v1/studies/{study_id}/trials", params={"limit": 50}).json()["items"]
    assert sorted(t["number"] for t in trials) == list(range(6))
    assert len({tuple(sorted(t["params"].items())) for t in trials}) == 6
    for listed in trials:
        trial = api.get(f"/v1/studies/{study_id}/trials/{listed['number']}").json()
        attrs = trial["user_attrs"]
        assert {"n_nonzero", "n_inputs", "val_loss", "test_loss", "test_accuracy"} <= set(attrs)
        curve = [point["epoch"] for point in trial["learning_curve"]]
        if trial["state"] == "COMPLETE":
            assert curve == list(range(1, EPOCHS + 1)) and attrs["epochs_run"] == EPOCHS
        else:  # pruned on its own, at the epoch its curve ends
            assert trial["state"] == "PRUNED" and curve[-1] == attrs["epochs_run"] < EPOCHS


def test_a_fused_members_slot_is_given_back_by_the_tell_that_ends_it(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a single trial's: a COMPLETE or PRUNED member's slot is given back and counted in the
    transaction that tells it, so no finish of its own follows (was: a second transaction, and a
    worker that died between the two left a told trial to the sweep, uncounted by the study's
    stop rule)."""
    from regtune.service.store.scheduling.claims import finishing

    separate: list[dict[str, Any]] = []
    finish = finishing.finish

    def counted(*args: Any, **kwargs: Any) -> bool:
        separate.append(kwargs)
        return finish(*args, **kwargs)

    monkeypatch.setattr(finishing, "finish", counted)
    api: TestClient = apps()
    study_id = api.post("/v1/studies", json=mlp_study("told", 6, fused_trials=4)).json()["id"]
    assert run_worker(6) == 6
    study = api.get(f"/v1/studies/{study_id}").json()
    assert study["status"] == "completed" and study["progress"]["done"] == 6, study
    assert study["counts"].get("COMPLETE", 0) + study["counts"].get("PRUNED", 0) == 6
    assert separate == []
    saved = api.get(f"/v1/studies/{study_id}/best-model")  # the last tell completed the study
    assert saved.status_code == 200, saved.text


def test_refit_false_with_dropout_saves_the_best_trials_own_model(apps: Apps) -> None:
    """``refit: false`` keeps the best trial's model: a fused member with dropout is retrained
    as a fused pass of one, with the masks it drew in its pass, so its trials fuse too (was one
    at a time, and an explicit fused_trials above 1 a 422)."""
    api: TestClient = apps()
    created = api.post(
        "/v1/studies", json=mlp_study("own-model", 4, fused_trials=4) | {"refit": False}
    )
    assert created.status_code == 201, created.text
    study_id = created.json()["id"]

    assert run_worker(4) == 4
    # the worker that completed the study saves its model; where it did not (seen once, under
    # load), an idle worker's catch-up saves it, as in service
    study = run_to_the_end(api, study_id)
    assert study["status"] == "completed" and study["best_model"] is not None, study
    saved = study["best_model"]["val_metrics"]["loss"]
    assert study["best_trial"]["user_attrs"]["fused"] is True
    assert saved == pytest.approx(study["best_trial"]["value"], rel=1e-6)  # README: to rounding


def test_fused_members_a_cancel_stopped_are_counted_as_such(apps: Apps) -> None:
    """A fused study cancelled while its members train: each member is stopped, and the study's
    end counts them as stopped by the cancel (was "failed or stopped by the cancel (each error
    says why)", in ``end.failed``)."""

    api: TestClient = apps()
    body = mlp_study("fused-cancelled", 4, fused_trials=2) | {"pruner": {"type": "none"}}
    body["training"]["max_epochs"] = 10_000  # trains until the cancel stops it
    body["budget"]["max_parallel"] = 2
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    study_id = created.json()["id"]

    with worker_thread(max_trials=2) as running:
        wait_for(
            lambda: trials_running(api, study_id) == 2, timeout=120, what="both members to train"
        )
        assert api.post(f"/v1/studies/{study_id}/cancel").status_code == 200
        running.ended()  # the heartbeat's round trip tells it of the cancel

    end = api.get(f"/v1/studies/{study_id}").json()["end"]
    assert (end["stopped_by_cancel"], end["failed"], end["interrupted"]) == (2, 0, 0), end
    assert end["message"].endswith("(state FAIL): 2 stopped by the cancel"), end
