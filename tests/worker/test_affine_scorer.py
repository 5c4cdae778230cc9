"""A λ path's scoring: many points' linear models on every fold's rows at once
(``AffineScorer.mses``) give each model's own metrics (``affine_scores_per_fold``)."""

from __future__ import annotations

import numpy as np
import pytest

from regtune.worker.data import load, make_splits
from regtune.worker.evaluation import AffineScorer, affine_scores_per_fold


@pytest.mark.parametrize("cells", [AffineScorer.CELLS, 1])  # 1: one point per product
def test_many_points_at_once_score_as_each_alone(
    monkeypatch: pytest.MonkeyPatch, cells: int
) -> None:
    splits = make_splits(
        load({"builtin": "diabetes"}), test_fraction=0.2, holdout=None, folds=3, seed=0
    )
    folds = splits.folds
    monkeypatch.setattr(AffineScorer, "CELLS", cells)
    scorer = AffineScorer(folds, "regression")
    rng = np.random.default_rng(0)
    d = folds[0].X_train.shape[1]
    weights = rng.normal(size=(4, len(folds), d))  # 4 points, each one model per fold
    biases = rng.normal(size=(4, len(folds)))
    for split in ("val", "test"):
        together = scorer.metrics(split, scorer.mses(split, weights, biases))
        for point in range(4):
            layers = [(weights[point, f][None], biases[point, f][None]) for f in range(len(folds))]
            alone = affine_scores_per_fold(layers, folds, split, "regression")
            for mine, theirs in zip(together[point], alone, strict=True):
                assert mine == pytest.approx(theirs, rel=1e-6), split


def test_a_call_scores_one_model_per_fold_on_both_splits() -> None:
    splits = make_splits(
        load({"builtin": "diabetes"}), test_fraction=0.2, holdout=None, folds=2, seed=0
    )
    folds = splits.folds
    d = folds[0].X_train.shape[1]
    layers = [(np.full((1, d), 0.1 * (f + 1)), np.array([0.5])) for f in range(len(folds))]
    val, test = AffineScorer(folds, "regression")(layers)
    assert val == [
        pytest.approx(m, rel=1e-6)
        for m in affine_scores_per_fold(layers, folds, "val", "regression")
    ]
    assert test == [
        pytest.approx(m, rel=1e-6)
        for m in affine_scores_per_fold(layers, folds, "test", "regression")
    ]
