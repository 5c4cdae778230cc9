"""A definition stored by an earlier version reads, and runs, as that version ran it: a field
added since whose default changed what a study does is read, where it is missing, as the value
that does what that version did (``definition.AS_RUN_BEFORE``).

Before ``training.solver`` every trial trained by minibatch, linear ones too: such a definition
was read as an exact-solver study, so one that searched ``learning_rate`` answered 500 "stored
data failed validation" on ``show``, ``trials`` and ``report`` and failed on its first claim, and
one that fixed it was extended with FISTA trials beside its SGD ones. Before λ paths an
exact-solver study ran one trial per claim: it was extended with λ-path trials."""

from __future__ import annotations

import copy
import json
from typing import Any

import optuna
from fastapi.testclient import TestClient
from sqlalchemy import text

from regtune.service.spec.definition import StudySpec
from regtune.service.spec.points import POINT_ATTR
from regtune.service.store.db import get_engine
from regtune.service.store.scheduling.retries import get_storage
from regtune.worker.loop import Worker
from tests.inprocess import Apps, run_to_the_end

BEFORE_THE_SOLVER: dict[str, Any] = {  # as 88e43db stored its EXAMPLE (resolve_task, to_stored)
    "name": "diabetes-enet",
    "dataset": {"builtin": "diabetes"},
    "task": "regression",
    "model": {"kind": "linear", "hidden_layers": [64, 64], "batch_norm": False},
    "search_space": {
        "lambda": {"low": 1e-05, "high": 10.0, "log": True, "step": None},
        "l1_ratio": {"low": 0.0, "high": 1.0, "log": False, "step": None},
        "dropout": 0.0,
        "learning_rate": {"low": 0.001, "high": 0.1, "log": True, "step": None},
        "batch_size": None,
    },
    "training": {
        "max_epochs": 3,
        "batch_size": 64,
        "optimizer": "adam",
        "momentum": 0.0,
        "early_stopping": {"patience": 5, "min_delta": 0.0001, "restore_best": True},
        "seed": 0,
    },
    "validation": {"holdout": 0.2, "folds": None, "test_fraction": 0.2, "split_seed": 0},
    "objective": {"metric": "val_loss", "direction": "minimize", "max_nonzero": None},
    "objectives": None,
    "sampler": {
        "seed": 0,
        "type": "tpe",
        "n_startup_trials": 10,
        "multivariate": True,
        "constant_liar": True,
    },
    "pruner": {
        "type": "hyperband",
        "min_resource": 1,
        "max_resource": "auto",
        "reduction_factor": 3,
    },
    "budget": {"n_trials": 2, "timeout_s": None, "max_parallel": 2, "max_retries": 0},
}
BEFORE_PATHS: dict[str, Any] = {  # as 2214910 stored its EXAMPLE: the exact solver, no paths
    **copy.deepcopy(BEFORE_THE_SOLVER),
    "search_space": {
        "lambda": {"low": 1e-05, "high": 10.0, "log": True, "step": None},
        "l1_ratio": {"low": 0.0, "high": 1.0, "log": False, "step": None},
        "dropout": 0.0,
        "learning_rate": 0.01,
        "batch_size": None,
        "input_noise": 0.0,
        "layer_penalty": 1.0,
        "batch_norm": None,
    },
    "training": {
        "solver": "exact",
        "tol": 1e-06,
        "max_iter": 200,
        "report_every": 25,
        "max_epochs": 50,
        "batch_size": 128,
        "optimizer": "adam",
        "momentum": 0.0,
        "early_stopping": {"patience": 5, "min_delta": 0.0001, "restore_best": True},
        "seed": 0,
    },
    "budget": {"n_trials": 16, "timeout_s": None, "max_parallel": 2, "max_retries": 0},
    "refit": True,
}


def stored_earlier(api: TestClient, created: dict[str, Any], earlier: dict[str, Any]) -> str:
    """A study the API creates from ``created``, its stored definition then ``earlier``, as if
    an earlier version had stored it."""
    response = api.post("/v1/studies", json=created)
    assert response.status_code == 201, response.text
    study_id: str = response.json()["id"]
    with get_engine().begin() as connection:
        connection.execute(
            text("UPDATE regtune_studies SET spec = :spec WHERE id = :id"),
            {"spec": json.dumps(earlier), "id": study_id},
        )
    return study_id


def trials_of(api: TestClient, study_id: str) -> list[optuna.trial.FrozenTrial]:
    name = api.get(f"/v1/studies/{study_id}").json()["optuna_study_name"]
    return optuna.load_study(study_name=name, storage=get_storage()).trials


def test_a_linear_study_stored_before_the_solver_reads_and_trains_by_minibatch(
    apps: Apps,
) -> None:
    api = apps()
    created = {
        **{k: v for k, v in BEFORE_THE_SOLVER.items() if k not in ("task", "model", "objectives")},
        "training": {**BEFORE_THE_SOLVER["training"], "solver": "minibatch"},
    }
    study_id = stored_earlier(api, created, BEFORE_THE_SOLVER)
    api = apps(database=Apps.database_path(api))  # a process that never read it

    study = api.get(f"/v1/studies/{study_id}")
    assert study.status_code == 200, study.text
    assert study.json()["definition"] == BEFORE_THE_SOLVER  # as stored
    assert study.json()["warnings"] == []
    assert api.get(f"/v1/studies/{study_id}/report").status_code == 200
    spec = StudySpec.from_stored(BEFORE_THE_SOLVER)
    assert (spec.solver, spec.refit) == ("minibatch", False)  # its best trial's model, as then

    first = run_to_the_end(api, study_id)
    assert (first["status"], first["counts"]["COMPLETE"]) == ("completed", 2), first
    extended = api.post(f"/v1/studies/{study_id}/extend", json={"n_trials": 1})
    assert extended.status_code == 200, extended.text
    assert run_to_the_end(api, study_id)["counts"]["COMPLETE"] == 3
    trials = trials_of(api, study_id)
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 3
    for trial in trials:  # the minibatch trainer: learning_rate searched, epochs, no iterations
        assert "learning_rate" in trial.params, trial.params
        assert "iterations" not in trial.user_attrs and trial.user_attrs["epochs_run"] <= 3


def test_an_exact_study_stored_before_paths_runs_one_trial_per_claim(apps: Apps) -> None:
    api = apps()
    created = {
        **{k: v for k, v in BEFORE_PATHS.items() if k not in ("task", "model", "objectives")},
        "search_space": {k: v for k, v in BEFORE_PATHS["search_space"].items() if v is not None},
        "training": {**BEFORE_PATHS["training"], "lambda_path": None},
    }
    study_id = stored_earlier(api, created, BEFORE_PATHS)
    api = apps(database=Apps.database_path(api))

    study = api.get(f"/v1/studies/{study_id}")
    assert study.status_code == 200, study.text
    assert study.json()["warnings"] == []  # none about a pruner under λ paths
    spec = StudySpec.from_stored(BEFORE_PATHS)
    assert spec.training.lambda_path is None and spec.path_points == 1
    assert spec.refit_rows == "non_test"  # the refit on the non-test rows saved, as then

    assert Worker().run(max_trials=1) == 1
    [trial] = trials_of(api, study_id)
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert POINT_ATTR not in trial.user_attrs and "iterations" in trial.user_attrs
