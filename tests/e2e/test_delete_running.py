"""DELETE of a study whose trials are running (issue 15, item 7).

The answer is 409 with what to do, and nothing changes; once cancelled and its running trial
stopped, DELETE removes the regtune row *and* the Optuna study with every trial, for real.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import optuna
import pytest

from tests.support import StackFactory, wait_for


def slow_definition() -> dict[str, Any]:
    """Trials of many small-batch epochs: one is surely running when we look."""
    return {
        "name": f"slow-{uuid.uuid4().hex[:6]}",
        "dataset": {"synthetic": {"kind": "sparse_regression", "n_samples": 4000}},
        "model": {"kind": "mlp", "hidden_layers": [32]},
        "search_space": {"lambda": 1e-4, "l1_ratio": 0.5, "learning_rate": 1e-3},
        "training": {"max_epochs": 2000, "batch_size": 8, "early_stopping": None},
        "pruner": {"type": "none"},
        "budget": {"n_trials": 3, "max_parallel": 1},
    }


def optuna_study_exists(url: str, name: str) -> bool:
    storage = optuna.storages.RDBStorage(url)
    try:
        storage.get_study_id_from_name(name)
        return True
    except KeyError:
        return False
    finally:
        storage.engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_delete_while_a_trial_runs_is_409_then_deletes_everything(
    stack_factory: StackFactory, backend: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    stack = stack_factory(url).start_api()
    stack.start_workers(1)
    study = stack.submit(slow_definition())
    sid, name = study["id"], study["optuna_study_name"]
    wait_for(lambda: stack.study(sid)["counts"]["RUNNING"] == 1, timeout=300, what="a trial")

    refused = httpx.delete(f"{stack.url}/v1/studies/{sid}", timeout=30)
    assert refused.status_code == 409, refused.text
    assert f"regtune cancel {sid}" in refused.json()["error"]["message"]  # the command to type
    assert stack.study(sid)["status"] == "running"  # a refused request changes nothing
    assert optuna_study_exists(url, name)

    assert httpx.post(f"{stack.url}/v1/studies/{sid}/cancel", timeout=30).status_code == 200
    wait_for(
        lambda: httpx.delete(f"{stack.url}/v1/studies/{sid}", timeout=30).status_code == 204,
        timeout=300,
        what="DELETE to succeed once the running trial stopped",
    )
    assert httpx.get(f"{stack.url}/v1/studies/{sid}", timeout=30).status_code == 404
    assert not optuna_study_exists(url, name)
    assert all(w.alive() for w in stack.workers)
    # the worker goes on serving other studies
    other = stack.submit({**slow_definition(), "training": {"max_epochs": 2, "batch_size": 64}})
    assert stack.wait_status(other["id"])["progress"]["done"] == 3
