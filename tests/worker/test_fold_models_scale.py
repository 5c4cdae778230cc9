"""A ``refit: false`` saved model of k fold models reports its test loss on the standardization
of the rows its models trained on together, every non-test row (the refit's), in the study and
in ``regtune predict`` alike (was: fold 0's target scale, so diabetes showed the saved model's
loss 0.2847 worse than the trial's 0.2805 beside a better r2 and rmse); ``regtune show`` says
the fold models trained on all of those rows between them (was: "trained on 282 rows", one
fold's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from regtune.service.model.standardizer import pooled_target
from regtune.worker import data
from tests.inprocess import cli_output, run_to_the_end
from tests.worker.test_predict_labels import predicted

DEFINITION = {
    "name": "fold-models",
    "dataset": {"builtin": "diabetes"},
    "model": {"kind": "linear"},
    "search_space": {"lambda": {"low": 1e-4, "high": 10, "log": True}, "l1_ratio": 0.7, "relax": 0},
    "refit": False,
    "sampler": {"type": "tpe", "seed": 8},
    "budget": {"n_trials": 8},
}


def test_the_fold_models_together_are_standardized_as_the_non_test_rows() -> None:
    dataset = data.load({"builtin": "diabetes"})
    splits = data.make_splits(dataset, test_fraction=0.2, holdout=None, folds=5, seed=0)
    rest, _ = data.split_test(dataset, test_fraction=0.2, seed=0)
    mean, scale = pooled_target([fold.scaler for fold in splits.folds])
    assert mean == pytest.approx(dataset.y[rest].mean(), rel=1e-12)
    assert scale == pytest.approx(dataset.y[rest].std(), rel=1e-12)


def test_a_refit_false_models_loss_is_on_the_non_test_rows_scale(
    api: TestClient, monkeypatch: Any, tmp_path: Path
) -> None:
    created = api.post("/v1/studies", json=DEFINITION)
    assert created.status_code == 201, created.text
    study_id = created.json()["id"]
    study = run_to_the_end(api, study_id)
    assert study["status"] == "completed", study
    dataset = data.load({"builtin": "diabetes"})
    rest, test = data.split_test(dataset, test_fraction=0.2, seed=0)
    sd = dataset.y[rest].std()  # the non-test rows', which the 5 fold models trained on

    model = study["best_model"]
    assert len(rest) == 353 and model["train_rows"] == 282  # one fold model's, as before
    assert model["refit"] is False and model["member_rows"] == [282, 282, 282, 283, 283]
    saved = model["test_metrics"]
    assert saved["loss"] == pytest.approx(0.5 * (saved["rmse"] / sd) ** 2, rel=1e-9)

    path = tmp_path / "model.safetensors"
    path.write_bytes(api.get(f"/v1/studies/{study_id}/best-model").content)
    rows = pd.DataFrame(dataset.X[test], columns=dataset.feature_names)
    rows.assign(target=dataset.y[test]).to_csv(tmp_path / "test.csv", index=False)
    scored = predicted(tmp_path / "test.csv", path)["metrics"]
    assert scored == pytest.approx(saved, rel=1e-5)

    shown = cli_output(api, monkeypatch, "show", study_id)
    assert "5 fold models, each trained on 282 or 283 of 353 rows" in shown, shown
    assert "trained on 282 rows" not in shown, shown
