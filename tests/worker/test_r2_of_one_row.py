"""The R² of one row is undefined: NaN, null in JSON and ``n/a`` in the CLI, as the AUC of rows
of one class is (was 0, printed ``r2=0`` by ``regtune predict`` of a one-row file as if the
model did no better than the mean), from every scorer alike: ``scores`` (a trial's metrics,
``SavedModel.score``) and a λ path's ``AffineScorer``. A constant target of several rows still
scores 0, as scikit-learn's ``r2_score`` gives it, so a validation fold of one value is scored."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from regtune.service.cli.output import params, sorted_by_name
from regtune.service.model.metrics import scores
from regtune.worker.data import load, make_splits
from regtune.worker.evaluation import AffineScorer, affine_scores_per_fold
from tests.worker.test_predict_labels import Saver, run, saved_model

__all__ = ["saved_model"]  # the fixture, shared with test_predict_labels


def test_the_r2_of_one_row_is_nan_and_of_a_constant_target_zero() -> None:
    one = scores(np.array([[0.3]]), np.array([1.0]), "regression")
    assert math.isnan(one["r2"]) and one["rmse"] == pytest.approx(0.7)
    constant = scores(np.array([[0.3], [0.5]]), np.array([1.0, 1.0]), "regression")
    assert constant["r2"] == 0.0


def test_a_path_scores_one_row_as_a_trial_does() -> None:
    splits = make_splits(
        load({"builtin": "diabetes"}), test_fraction=0.2, holdout=None, folds=2, seed=0
    )
    folds = [dataclasses.replace(f, X_test=f.X_test[:1], y_test=f.y_test[:1]) for f in splits.folds]
    d = folds[0].X_train.shape[1]
    layers = [(np.full((1, d), 0.1), np.array([0.5])) for _ in folds]
    val, test = AffineScorer(folds, "regression")(layers)
    alone = affine_scores_per_fold(layers, folds, "test", "regression")
    assert all(math.isnan(m["r2"]) for m in [*test, *alone])
    assert all(not math.isnan(m["r2"]) for m in val)


def test_regtune_predict_of_one_row_says_r2_is_undefined(
    saved_model: Saver, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    frame = pd.DataFrame({"x": x, "y": 3 * x + rng.normal(0, 0.1, 40)})
    model = saved_model(frame.to_csv(index=False).encode(), target="y", task="regression")
    one = tmp_path / "one.csv"
    frame.head(1).to_csv(one, index=False)
    answer = run(str(one), "--model", str(model), "--json")
    assert answer.exit_code == 0, answer.output
    metrics = json.loads(answer.stdout)["metrics"]
    assert metrics["r2"] is None and metrics["rmse"] is not None
    shown = run(str(one), "--model", str(model))
    assert shown.exit_code == 0, shown.output
    assert "1 rows  loss=" in shown.stderr and " r2=n/a rmse=" in shown.stderr, shown.stderr


def test_regtune_show_says_a_metric_the_api_sent_as_null_is_undefined() -> None:
    """The API sends a trial's NaN metric as null (JSON has no NaN)."""
    shown = params(sorted_by_name({"rmse": 0.25, "r2": None, "loss": math.nan}))
    assert shown == "loss=n/a r2=n/a rmse=0.25"
