"""A diverging MLP is never the saved best model: a trial whose loss diverges is the worst value
even when early stopping restored an earlier epoch, so the next trial is chosen; a refit that
diverges where its trial did not saves the trial's own models instead, and says so. Plain SGD on
diabetes, 64 rows a batch: a learning rate of 1.5 diverges after its 11th epoch, one of 1.45
trains its 100 epochs on the trial's rows but diverges on the refit's, which are more."""

from __future__ import annotations

import math
from typing import Any

import optuna
from fastapi.testclient import TestClient

from regtune.service.spec.definition import StudySpec
from regtune.service.spec.resolve import resolve_task
from regtune.worker.objective import make_objective
from regtune.worker.refit import best_fit
from tests.inprocess import run_to_the_end

STABLE, DIVERGING = 1.45, 1.5


def definition(rates: list[float], **training: Any) -> dict[str, Any]:
    return {
        "name": "diverging-sgd",
        "dataset": {"builtin": "diabetes"},
        "model": {"kind": "mlp", "hidden_layers": [32, 32]},
        "search_space": {"lambda": 1e-5, "l1_ratio": 0.0, "learning_rate": {"choices": rates}},
        "training": {
            "max_epochs": 100,
            "optimizer": "sgd",
            "batch_size": 64,
            "early_stopping": {"patience": 100},  # restore_best: the default
            **training,
        },
        "validation": {"holdout": 0.2},
        "objective": {"metric": "val_loss"},
        "sampler": {"type": "grid"},
        "pruner": {"type": "none"},
    }


def test_a_trial_diverging_after_its_best_epoch_is_the_worst_value() -> None:
    """Its restored epoch's metrics are kept; its value is +inf, as a diverged trial's."""
    spec = resolve_task(StudySpec.model_validate(definition([DIVERGING])))
    study = optuna.create_study()
    study.optimize(make_objective(spec, stop_check=lambda: None), n_trials=1)
    trial = study.trials[0]
    assert trial.user_attrs["diverged"] is True
    assert trial.user_attrs["best_epoch"] > 1  # early stopping restored a finite epoch
    assert math.isfinite(trial.user_attrs["val_loss"])
    assert trial.value == math.inf


def test_a_diverging_refit_saves_the_trials_own_models() -> None:
    """The stable rate's refit on the non-test rows diverges: the trial's models are saved."""
    spec = resolve_task(StudySpec.model_validate(definition([STABLE])))
    study = optuna.create_study()
    study.optimize(make_objective(spec, stop_check=lambda: None), n_trials=1)
    trial = study.trials[0]
    assert trial.value is not None
    assert trial.user_attrs["diverged"] is False and math.isfinite(trial.value)
    fitted = best_fit(spec, trial.params, trial.user_attrs)
    assert not fitted.refit and not fitted.result.diverged
    assert fitted.note is not None and fitted.note.startswith("the refit diverged")
    assert fitted.result.test_metrics["test_r2"] == trial.user_attrs["test_r2"]


def test_a_study_of_a_diverging_rate_saves_the_stable_trials_model(api: TestClient) -> None:
    """A real worker on both rates: the diverged trial is +inf and not chosen; the chosen trial's
    refit diverges, so its own models are saved, with the reason in ``best_model.note``, and
    score on the test rows what the trial scored. (One trial at a time: at the edge of
    stability a fused pass's float rounding, grown over the epochs, decides which side a rate
    falls on.)"""
    body = {**definition([STABLE, DIVERGING], fused_trials=1), "name": "diverging"}
    body["budget"] = {"n_trials": 2, "max_parallel": 1}
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    study = run_to_the_end(api, created.json()["id"])
    assert study["status"] == "completed", study
    trials = api.get(f"/v1/studies/{study['id']}/trials").json()["items"]
    by_rate = {t["params"]["learning_rate"]: t for t in trials}
    assert by_rate[DIVERGING]["user_attrs"]["diverged"] is True
    assert by_rate[DIVERGING]["value"] is None  # +inf: JSON's null
    assert study["best_trial"]["number"] == by_rate[STABLE]["number"]
    model = study["best_model"]
    assert model["trial"] == by_rate[STABLE]["number"] and model["refit"] is False
    assert model["note"].startswith("the refit diverged"), model
    r2 = model["test_metrics"]["r2"]
    assert math.isclose(r2, by_rate[STABLE]["user_attrs"]["test_r2"], rel_tol=1e-6), r2
