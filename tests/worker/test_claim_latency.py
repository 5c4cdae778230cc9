"""``regtune_claim_latency_seconds`` has one sample per claim, whatever the claim runs. A fused
claim of K trials was counted K times with one value, a λ-path claim once, and a claim whose
trial could not be set up not at all."""

from __future__ import annotations

import optuna
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from regtune.service.store.optuna_db.attrs import CLAIM_SECONDS_ATTR, PATH_OF_ATTR
from tests.inprocess import Apps, run_to_the_end
from tests.service.test_client_optuna import STUDY
from tests.worker.test_fused_trials import mlp_study, run_worker
from tests.worker.test_paths import DEFINITION as PATH_STUDY


def claims_counted(api: TestClient) -> float:
    answer = api.get("/metrics")
    assert answer.status_code == 200, answer.text
    families = {f.name: f for f in text_string_to_metric_families(answer.text)}
    samples = families["regtune_claim_latency_seconds"].samples
    return next(s.value for s in samples if s.name == "regtune_claim_latency_seconds_count")


def trials(api: TestClient, study_id: str) -> list[optuna.trial.FrozenTrial]:
    study = api.get(f"/v1/studies/{study_id}").json()
    storage = optuna.storages.RDBStorage(f"sqlite:///{Apps.database_path(api)}")
    return optuna.load_study(study_name=study["optuna_study_name"], storage=storage).get_trials()


def carrying(found: list[optuna.trial.FrozenTrial]) -> list[int]:
    """The trials that record a claim's latency."""
    return [t.number for t in found if CLAIM_SECONDS_ATTR in t.system_attrs]


def test_a_fused_pass_is_one_claim(apps: Apps) -> None:
    api = apps()
    created = api.post("/v1/studies", json=mlp_study("fused", 6, fused_trials=4))
    assert created.status_code == 201, created.text

    assert run_worker(6) == 6  # a pass of 4 (max_parallel 4), then one of the 2 left

    assert carrying(trials(api, created.json()["id"])) == [0, 4]  # each pass's first trial
    assert claims_counted(api) == 2


def test_a_path_is_one_claim(apps: Apps) -> None:
    api = apps()
    created = api.post("/v1/studies", json=PATH_STUDY | {"budget": {"n_trials": 16}})
    assert created.status_code == 201, created.text
    study = run_to_the_end(api, created.json()["id"], timeout=300)
    assert study["status"] == "completed", study

    found = trials(api, created.json()["id"])
    firsts = [t.number for t in found if PATH_OF_ATTR not in t.system_attrs]
    assert len(firsts) < len(found) and carrying(found) == firsts  # a claim's first point
    assert claims_counted(api) == len(firsts)


def test_a_claim_whose_trial_cannot_be_set_up_is_counted(apps: Apps) -> None:
    api = apps(objective_factory="tests.objectives:make_failing_objective")
    unbuildable = STUDY | {"name": "unbuildable", "budget": {"n_trials": 3, "max_retries": 1}}
    created = api.post("/v1/studies", json=unbuildable)
    assert created.status_code == 201, created.text
    assert run_to_the_end(api, created.json()["id"])["status"] == "failed"

    found = trials(api, created.json()["id"])
    assert [t.state.name for t in found] == ["FAIL", "FAIL"]  # max_retries + 1 claims
    assert carrying(found) == [0, 1]
    assert claims_counted(api) == 2
