"""The saved model file: what it predicts is what the trial measured, with no pickle inside."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from regtune.service.spec.definition import StudySpec
from regtune.service.spec.resolve import resolve_task
from regtune.worker import data
from regtune.worker import modelfile as predict
from regtune.worker.evaluation import unnamed
from regtune.worker.objective import n_outputs, prepare, train_config
from regtune.worker.trainers import fit
from regtune.worker.trainers.result import TrainResult


def trained(name: str, validation: dict[str, object]) -> tuple[StudySpec, TrainResult, data.Splits]:
    spec = resolve_task(
        StudySpec.model_validate(
            {
                "name": "p",
                "dataset": {"builtin": name},
                "model": {"kind": "mlp", "hidden_layers": [8], "batch_norm": True},
                "training": {"max_epochs": 3},
                "validation": validation,
            }
        )
    )
    splits = prepare(spec)
    values = {"lambda": 1e-3, "l1_ratio": 0.5, "dropout": 0.1, "learning_rate": 1e-2}
    result = fit(train_config(spec, values, n_out=n_outputs(splits)), splits.folds)
    return spec, result, splits


def save_and_load(
    tmp_path: Path, spec: StudySpec, result: TrainResult, splits: data.Splits
) -> predict.SavedModel:
    dataset = data.load(spec.dataset.model_dump(mode="json"))
    path = tmp_path / "m.safetensors"
    predict.save(
        path,
        models=result.models,
        scalers=[f.scaler for f in splits.folds],
        task=splits.task,
        architecture={
            "kind": "mlp",
            "n_in": splits.n_features,
            "n_out": n_outputs(splits),
            "hidden_layers": [8],
            "batch_norm": True,
            "dropout": 0.1,
        },
        feature_names=dataset.feature_names,
        info={"trial": 0},
    )
    assert b"pickle" not in path.read_bytes() and path.read_bytes()[:2] != b"\x80\x04"
    return predict.load(path)


@pytest.mark.parametrize("name", ["diabetes", "breast_cancer", "wine"])
def test_a_holdout_model_scores_exactly_what_the_trial_measured(tmp_path: Path, name: str) -> None:
    spec, result, splits = trained(name, {"holdout": 0.2})
    saved = save_and_load(tmp_path, spec, result, splits)
    dataset = data.load(spec.dataset.model_dump(mode="json"))
    _, test = data.split_test(dataset, test_fraction=0.2, seed=0)
    scored = saved.score(dataset.X[test], dataset.y[test])
    assert scored == unnamed("test", result.test_metrics)
    predicted = saved.predict(dataset.X[test])["prediction"]
    assert len(predicted) == len(test)
    if splits.task != "regression":
        assert set(np.unique(predicted)) <= set(range(splits.n_classes))


def test_a_cross_validated_model_is_the_average_of_its_fold_models(tmp_path: Path) -> None:
    spec, result, splits = trained("diabetes", {"folds": 3})
    saved = save_and_load(tmp_path, spec, result, splits)
    dataset = data.load(spec.dataset.model_dump(mode="json"))
    _, test = data.split_test(dataset, test_fraction=0.2, seed=0)
    X = dataset.X[test]
    by_fold = [
        predict.SavedModel(
            model=predict.Ensemble([m], [f.scaler], "regression"),
            task="regression",
            feature_names=saved.feature_names,
            info={},
        ).predict(X)["prediction"]
        for m, f in zip(result.models, splits.folds, strict=True)
    ]
    assert np.allclose(saved.predict(X)["prediction"], np.mean(by_fold, axis=0))
    assert saved.score(X, dataset.y[test])["rmse"] > 0


def test_a_file_that_is_not_a_regtune_model_is_refused(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    path = tmp_path / "other.safetensors"
    save_file({"w": np.zeros(2)}, str(path))
    with pytest.raises(ValueError, match="not a regtune model"):
        predict.load(path)
