"""When a fused member's refit is refused, the saved model is the member's own: retrained as a
fused pass of one, its dropout masks are the ones it drew in its pass (was: retrained by the
one-at-a-time trainer, whose masks are other draws, so the saved fold models scored their folds
1e-4 away from the trial they were said to be).

One epoch at a learning rate of 1e-4 (seed 2, 16 units): the refit on every non-test row fits
those rows worse than their mean does (loss 0.58 against 0.5), so the chosen trial's own models
are saved."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from regtune.service.spec.definition import StudySpec
from regtune.service.store.db import transaction
from regtune.service.store.tables import StudyRow
from regtune.worker import modelfile
from regtune.worker.evaluation import Split, scores_per_fold, unnamed
from regtune.worker.objective import prepare
from tests.inprocess import run_to_the_end


def definition() -> dict[str, Any]:
    return {
        "name": "fused-own-models",
        "dataset": {"builtin": "diabetes"},
        "model": {"kind": "mlp", "hidden_layers": [16]},
        "search_space": {
            "lambda": {"choices": [1e-4, 2e-4]},
            "l1_ratio": 0.0,
            "learning_rate": 1e-4,
            "dropout": 0.4,
        },
        "training": {
            "max_epochs": 1,
            "batch_size": 32,
            "early_stopping": None,
            "seed": 2,
            "fused_trials": 2,
        },
        "validation": {"folds": 3},
        "objective": {"metric": "val_loss"},
        "sampler": {"type": "grid"},
        "pruner": {"type": "none"},
        "budget": {"n_trials": 2, "max_parallel": 2},
    }


def saved_fold_scores(
    api: TestClient, study: dict[str, Any], tmp_path: Any, split: Split = "val"
) -> list[dict[str, float]]:
    """Each fold model of the study's saved best model scored on its fold's ``split`` rows."""
    download = api.get(f"/v1/studies/{study['id']}/best-model")
    assert download.status_code == 200, download.text
    path = tmp_path / f"{study['id']}.safetensors"
    path.write_bytes(download.content)
    saved = modelfile.load(path)
    with transaction() as session:
        row = session.get(StudyRow, study["id"])
        assert row is not None
        spec = StudySpec.from_stored(row.spec)
    splits = prepare(spec)
    return scores_per_fold(list(saved.model.members), splits.folds, split, splits.task)


def test_a_fused_members_own_models_are_saved_as_it_trained_them(
    api: TestClient, tmp_path: Any
) -> None:
    created = api.post("/v1/studies", json=definition())
    assert created.status_code == 201, created.text
    study = run_to_the_end(api, created.json()["id"])
    assert study["status"] == "completed", study
    best, model = study["best_trial"], study["best_model"]
    assert model["trial"] == best["number"] and model["refit"] is False, model
    assert model["note"].startswith("the refit fits its own training rows worse"), model

    # each saved fold model scores its fold as the trial's did (README: to float rounding, 1e-6)
    per_fold = [m["loss"] for m in saved_fold_scores(api, study, tmp_path)]
    assert per_fold == pytest.approx(best["user_attrs"]["fold_values"], 1e-6)
    assert model["val_metrics"]["loss"] == pytest.approx(best["value"], rel=1e-6)
    assert best["user_attrs"]["fused"] is True  # how it was retrained: it was in a pass of two


def test_refit_false_with_dropout_and_noise_trains_fused_and_saves_the_trials_own_models(
    api: TestClient, tmp_path: Any
) -> None:
    """``refit: false`` with dropout or input noise ran its trials one at a time, and
    ``fused_trials`` above 1 there was a 422: the saved model, the best trial retrained alone,
    would not have drawn the member's masks. Retrained as a fused pass of one, it does."""
    body = definition() | {"name": "fused-no-refit", "refit": False}
    body["search_space"] |= {"input_noise": 0.1}
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    study = run_to_the_end(api, created.json()["id"])
    assert study["status"] == "completed", study
    best, model = study["best_trial"], study["best_model"]
    assert model["trial"] == best["number"] and model["refit"] is False, model
    trials = api.get(f"/v1/studies/{study['id']}/trials").json()["items"]
    for listed in trials:  # trained in one pass of two
        trial = api.get(f"/v1/studies/{study['id']}/trials/{listed['number']}").json()
        assert trial["user_attrs"]["fused"] is True, trial

    per_fold = [m["loss"] for m in saved_fold_scores(api, study, tmp_path)]
    assert per_fold == pytest.approx(best["user_attrs"]["fold_values"], 1e-6)
    assert model["val_metrics"]["loss"] == pytest.approx(best["value"], rel=1e-6)
    # and on the test rows: the trial's test_* are its fold models' mean
    tested = saved_fold_scores(api, study, tmp_path, "test")
    assert {k: sum(m[k] for m in tested) / len(tested) for k in tested[0]} == pytest.approx(
        unnamed("test", best["user_attrs"]), rel=1e-6
    )
