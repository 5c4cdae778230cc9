"""A ``KeyError`` an objective raises is its trial's error, counted against
``budget.max_retries``; only a study really gone is a deletion.

Every ``KeyError`` out of a trial was taken for a deleted study: the trial FAILed, logged as
"study … was deleted" though the study was there, its slot went back uncounted, and the study
never ended (1,824 FAIL trials in 3 minutes of a metric its task does not measure).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import optuna
import pytest
from fastapi.testclient import TestClient

from regtune.service.spec.definition import StudySpec
from regtune.service.store.scheduling.retries import get_storage
from regtune.worker.loop import Worker
from regtune.worker.objective import measured
from regtune.worker.search import StopCheck, suggest
from tests.inprocess import Apps

BODY = {
    "name": "key-errors",
    "dataset": {"builtin": "diabetes"},
    "search_space": {"lambda": {"low": 1e-3, "high": 1.0, "log": True}},
    "pruner": {"type": "none"},
    "budget": {"n_trials": 3, "max_retries": 1},
}


def raise_key_error(spec: StudySpec, *, stop_check: StopCheck) -> Callable[[optuna.Trial], float]:
    """Every trial raises ``KeyError: 'val_r2'``, as a lookup of a metric not measured does."""

    def objective(trial: optuna.Trial) -> float:
        suggest(trial, spec)
        stop_check()
        raise KeyError("val_r2")

    return objective


def delete_the_study(spec: StudySpec, *, stop_check: StopCheck) -> Callable[[optuna.Trial], float]:
    """Deletes the claim's Optuna study (as one deleted outside regtune is) as the trial is set
    up: Optuna's ask for its trial meets ``KeyError``, the storage's word for a missing study."""
    storage = get_storage()
    (study,) = storage.get_all_studies()  # the test's only one
    optuna.delete_study(study_name=study.study_name, storage=storage)
    return lambda trial: 1.0


def _run(api: TestClient, caplog: pytest.LogCaptureFixture, *, claims: int) -> dict[str, object]:
    created = api.post("/v1/studies", json=BODY)
    assert created.status_code == 201, created.text
    with caplog.at_level(logging.INFO, logger="regtune"):
        Worker().run(max_trials=claims)
    return dict(created.json())


def test_an_objectives_key_error_is_a_counted_trial_error_and_the_study_ends(
    apps: Apps, caplog: pytest.LogCaptureFixture
) -> None:
    api = apps(objective_factory=f"{__name__}:raise_key_error")
    study = _run(api, caplog, claims=2)  # max_retries 1: the second error fails the study

    shown = api.get(f"/v1/studies/{study['id']}").json()
    assert shown["status"] == "failed", shown
    assert "val_r2" in shown["error"], shown
    loaded = optuna.load_study(study_name=str(study["optuna_study_name"]), storage=get_storage())
    trials = loaded.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [optuna.trial.TrialState.FAIL] * 2, trials
    assert all("KeyError" in t.user_attrs["error"] for t in trials), trials
    assert "was deleted" not in caplog.text


def test_a_study_deleted_mid_trial_is_still_said_deleted(
    apps: Apps, caplog: pytest.LogCaptureFixture
) -> None:
    api = apps(objective_factory=f"{__name__}:delete_the_study")
    study = _run(api, caplog, claims=1)

    assert f"study {study['id']} was deleted" in caplog.text
    assert "failed" not in caplog.text, caplog.text


def test_an_objective_not_measured_is_named_with_what_was() -> None:
    with pytest.raises(ValueError, match="measured no val_r2: its task measures val_accuracy"):
        measured({"val_accuracy": 0.9}, "val_r2")
