"""The weaker items of issue 15 (item 10): a deadline that ends a study says so, a diverged trial
is marked, and pool-wide views (/metrics, /v1/workers) are not every tenant's to read."""

from __future__ import annotations

import copy
from typing import Any

import optuna
import pytest
from fastapi.testclient import TestClient

from regtune.service.spec.definition import EXAMPLE, StudySpec
from regtune.service.spec.resolve import resolve_task
from regtune.service.store.optuna_db.internals.handles import storage_of, trial_id_of
from regtune.service.store.optuna_db.internals.worker_cache import WorkerHeartbeats
from regtune.service.store.scheduling import workers
from regtune.service.store.scheduling.claims.links import link_trial
from regtune.service.store.scheduling.claims.taking import claim
from regtune.service.store.scheduling.retries import get_storage
from tests.inprocess import Apps
from tests.support import wait_for

ADMIN = "weak-items-admin-key-0123456789"


@pytest.fixture
def api(apps: Apps) -> TestClient:
    return apps(admin_key=ADMIN)


def client(api: TestClient, key: str) -> TestClient:
    return TestClient(api.app, headers={"Authorization": f"Bearer {key}"})


def test_a_study_ended_by_its_deadline_says_so(api: TestClient) -> None:
    """``timeout_s: 1`` and no worker: the study completes with 0 trials, and its end says why
    (``test_study_end``)."""
    with client(api, ADMIN) as admin:
        body = {**copy.deepcopy(EXAMPLE), "name": "deadline", "budget": {"timeout_s": 1}}
        study = admin.post("/v1/studies", json=body).json()

        def ended() -> dict[str, Any] | None:
            found: dict[str, Any] = admin.get(f"/v1/studies/{study['id']}").json()
            return found if found["status"] == "completed" else None

        final = wait_for(ended, timeout=30, what="the deadline to end the study")
    assert final["progress"]["done"] == 0
    assert final["end"]["reason"] == "timeout_s" and final["error"] is None  # a normal end


def test_pool_wide_views_need_the_admin_key(api: TestClient) -> None:
    with client(api, ADMIN) as admin:
        keys = {t: admin.post("/v1/keys", json={"tenant": t}).json()["key"] for t in "ab"}
        with client(api, keys["a"]) as a:
            own = a.post("/v1/studies", json={**copy.deepcopy(EXAMPLE), "name": "mine"}).json()
        # w0 runs trial 0 of it, before its heartbeat names it; w1's heartbeat names that
        # trial, but w1 holds nothing now: idle, whoever's study its heartbeat named
        for worker_id in ("w0", "w1"):
            workers.register(worker_id)
        taken = claim(worker_id="w0")
        assert taken is not None
        storage = WorkerHeartbeats(get_storage())
        study = optuna.load_study(study_name=taken.optuna_name, storage=storage)
        trial = study.ask()
        assert link_trial(storage_of(study), trial_id_of(trial), taken)
        workers.beat("w1", study_id=own["id"], trial_number=trial.number)

        assert admin.get("/metrics").status_code == 200
        pool = {w["id"]: w for w in admin.get("/v1/workers").json()}
        assert set(pool) == {"w0", "w1"}
        # the operator sees which study fills the pool, whoever's it is
        assert (pool["w0"]["study_id"], pool["w0"]["trial_number"]) == (own["id"], trial.number)
        assert (pool["w1"]["study_id"], pool["w1"]["trial_number"]) == (None, None)
        for tenant, sees in (("a", {"w0"}), ("b", set())):
            with client(api, keys[tenant]) as caller:
                refused = caller.get("/metrics")
                assert refused.status_code == 403, refused.text
                assert "admin key" in refused.json()["error"]["message"]
                listed = caller.get("/v1/workers").json()
                assert {w["id"] for w in listed} == sees
                assert all(w["study_id"] == own["id"] for w in listed)


def test_a_diverged_trial_is_marked() -> None:
    """A learning rate far too large: the trial is COMPLETE at +inf, with ``diverged: true``."""
    from regtune.worker.objective import make_objective

    spec = resolve_task(
        StudySpec.model_validate(
            {
                "name": "boom",
                "dataset": {"builtin": "diabetes"},
                "model": {"kind": "linear"},
                "search_space": {"lambda": 1e-5, "l1_ratio": 0.0, "learning_rate": 9.9},
                "training": {
                    "solver": "minibatch",  # the exact solver has no learning rate to diverge
                    "max_epochs": 3,
                    "optimizer": "sgd",
                    "batch_size": 8,
                },
                "pruner": {"type": "none"},
            }
        )
    )
    study = optuna.create_study()
    study.optimize(make_objective(spec, stop_check=lambda: None), n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert trial.value == float("inf") and trial.user_attrs["diverged"] is True
