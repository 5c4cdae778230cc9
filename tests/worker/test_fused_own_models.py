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
from regtune.worker.evaluation import scores_per_fold
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

    download = api.get(f"/v1/studies/{study['id']}/best-model")
    assert download.status_code == 200, download.text
    path = tmp_path / "best.safetensors"
    path.write_bytes(download.content)
    saved = modelfile.load(path)
    with transaction() as session:
        row = session.get(StudyRow, study["id"])
        assert row is not None
        spec = StudySpec.from_stored(row.spec)
    splits = prepare(spec)
    per_fold = scores_per_fold(list(saved.model.members), splits.folds, "val", splits.task)
    # each saved fold model scores its fold as the trial's did (README: to float rounding, 1e-6)
    assert [m["loss"] for m in per_fold] == pytest.approx(best["user_attrs"]["fold_values"], 1e-6)
    assert model["val_metrics"]["loss"] == pytest.approx(best["value"], rel=1e-6)
    assert best["user_attrs"]["fused"] is True  # how it was retrained: it was in a pass of two
