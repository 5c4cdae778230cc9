"""The baseline the report shows beside the best model: a predictor that ignores the inputs,
fitted on the training rows and scored on the same test rows, checked against numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from regtune.worker import data
from regtune.worker.evaluation import baseline_scores


def _splits(name: str) -> data.Splits:
    return data.make_splits(
        data.load({"builtin": name}), test_fraction=0.2, holdout=None, folds=3, seed=0
    )


def test_the_regression_baseline_is_the_training_mean() -> None:
    splits = _splits("diabetes")
    scores = baseline_scores(splits.folds, "regression", 1)
    expected = []
    for fold in splits.folds:
        scale = fold.scaler.y_scale
        truth = fold.y_test.astype(np.float64) * scale
        guess = float(np.mean(fold.y_train.astype(np.float64))) * scale
        rmse = math.sqrt(float(np.mean((truth - guess) ** 2)))
        r2 = 1 - float(np.mean((truth - guess) ** 2)) / float(np.var(truth))
        expected.append((rmse, r2))
    assert scores["rmse"] == pytest.approx(np.mean([e[0] for e in expected]), rel=1e-5)
    assert scores["r2"] == pytest.approx(np.mean([e[1] for e in expected]), abs=1e-5)
    assert scores["r2"] <= 0.0  # the mean of other rows never beats the test rows' own


@pytest.mark.parametrize("name", ["breast_cancer", "digits"])
def test_the_classification_baseline_guesses_the_majority_class(name: str) -> None:
    splits = _splits(name)
    task = splits.task
    n_out = splits.n_classes if task == "multiclass" else 1
    scores = baseline_scores(splits.folds, task, n_out)
    accuracy = [
        float(np.mean(fold.y_test == np.bincount(fold.y_train).argmax())) for fold in splits.folds
    ]
    assert scores["accuracy"] == pytest.approx(np.mean(accuracy))
    if task == "binary":
        assert scores["auc"] == 0.5  # one score for every row ranks nothing
    # the loss is the cross-entropy of the training class frequencies on the test rows
    losses = []
    for fold in splits.folds:
        counts = np.bincount(fold.y_train, minlength=max(2, splits.n_classes)) + 0.5
        prior = counts / counts.sum()
        losses.append(float(-np.mean(np.log(prior[fold.y_test]))))
    assert scores["loss"] == pytest.approx(np.mean(losses), rel=1e-4)
