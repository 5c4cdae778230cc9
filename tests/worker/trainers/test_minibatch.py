"""The minibatch trainer minimizes exactly the objective of DESIGN.md: scikit-learn's
coefficients are a fixed point of its full-batch proximal gradient (ISTA) step.

Started at scikit-learn's answer, a few epochs of ISTA with step 1/L leave it where it is (to
float32 precision) with the same exact zeros; a wrong scaling of the data term or of a penalty
would move it at the first step. Training from scratch to convergence is for the benches.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression, Ridge

from regtune.worker.data import Fold, Standardizer, load, make_splits
from regtune.worker.models import build_model, nonzero_inputs
from regtune.worker.trainers.config import EarlyStop, TrainConfig
from regtune.worker.trainers.fista import LinearState
from regtune.worker.trainers.minibatch import train_minibatch

EPOCHS = 5
RTOL = 1e-4
"""Relative distance from scikit-learn's coefficients after ``EPOCHS`` ISTA steps (float32)."""


def _full_fold(X: np.ndarray, y: np.ndarray, task: str) -> Fold:
    scaler = Standardizer.fit(X, y, task)
    Xs, ys = scaler.x(X), scaler.y(y, task)
    return Fold(Xs, ys, Xs, ys, Xs, ys, scaler)


def _ista(
    fold: Fold, task: str, *, lam: float, l1_ratio: float, epochs: int, start: Any = None
) -> np.ndarray:
    """Full-batch proximal gradient (ISTA) with step 1/L, L the data term's Lipschitz constant,
    from scikit-learn's fitted ``start`` (else the random initialization)."""
    X = fold.X_train.astype(np.float64)
    curvature = 1.0 if task == "regression" else 0.25
    lipschitz = curvature * np.linalg.eigvalsh(X.T @ X / len(X)).max() + lam * (1 - l1_ratio)
    config = TrainConfig(
        task=task,
        n_out=1,
        lam=lam,
        l1_ratio=l1_ratio,
        learning_rate=1.0 / lipschitz,
        batch_size=None,
        optimizer="sgd",
        max_epochs=epochs,
        early_stopping=None,
    )
    warm_start = None
    if start is not None:
        weight = torch.tensor(np.atleast_2d(start.coef_), dtype=torch.float32)
        bias = torch.tensor(np.atleast_1d(start.intercept_), dtype=torch.float32)
        warm_start = [LinearState(weight, bias)]
    result = train_minibatch(config, [fold], warm_start=warm_start)
    model = result.models[0]
    assert isinstance(model, torch.nn.Sequential) and isinstance(model[1], torch.nn.Linear)
    return model[1].weight.detach().double().numpy().ravel()


def _relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    return float(np.linalg.norm(ours - reference) / np.linalg.norm(reference))


@pytest.fixture(scope="module")
def diabetes() -> Fold:
    data = load({"builtin": "diabetes"})
    return _full_fold(data.X, data.y, "regression")


@pytest.mark.parametrize(
    ("l1_ratio", "lam"),
    [(0.0, 0.05), (1.0, 0.02), (0.5, 0.03)],
    ids=["ridge", "lasso", "elastic-net"],
)
def test_linear_regression_matches_scikit_learn(
    diabetes: Fold, l1_ratio: float, lam: float
) -> None:
    X, y = diabetes.X_train.astype(np.float64), diabetes.y_train.astype(np.float64)
    n = len(y)
    # ½·MSE + λ(ρ‖w‖₁ + (1−ρ)/2‖w‖²): ElasticNet/Lasso alpha = λ; Ridge alpha = λ·n.
    if l1_ratio == 0.0:
        reference = Ridge(alpha=lam * n, tol=1e-12).fit(X, y)
    elif l1_ratio == 1.0:
        reference = Lasso(alpha=lam, tol=1e-12, max_iter=1_000_000).fit(X, y)
    else:
        reference = ElasticNet(alpha=lam, l1_ratio=l1_ratio, tol=1e-12, max_iter=1_000_000)
        reference = reference.fit(X, y)
    ours = _ista(diabetes, "regression", lam=lam, l1_ratio=l1_ratio, epochs=EPOCHS, start=reference)
    assert _relative_error(ours, reference.coef_) < RTOL
    if l1_ratio > 0:
        # the proximal step keeps the exact zeros of the L1 solution
        np.testing.assert_array_equal(ours == 0, reference.coef_ == 0)


def test_logistic_regression_matches_scikit_learn() -> None:
    data = load({"builtin": "breast_cancer"})
    fold = _full_fold(data.X, data.y, "binary")
    lam, l1_ratio = 0.02, 0.5
    X, y = fold.X_train.astype(np.float64), fold.y_train
    # mean cross-entropy + λ(...): C = 1 / (λ·n)
    reference = LogisticRegression(
        C=1.0 / (lam * len(y)), l1_ratio=l1_ratio, solver="saga", tol=1e-8, max_iter=200_000
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # API-transition warnings of recent scikit-learn
        reference.fit(X, y)
    ours = _ista(fold, "binary", lam=lam, l1_ratio=l1_ratio, epochs=EPOCHS, start=reference)
    assert _relative_error(ours, reference.coef_.ravel()) < RTOL
    np.testing.assert_array_equal(ours == 0, reference.coef_.ravel() == 0)


def test_large_penalty_gives_exact_zeros(diabetes: Fold) -> None:
    """From the random initialization: one soft-thresholding step zeroes every weight."""
    assert np.all(_ista(diabetes, "regression", lam=5.0, l1_ratio=1.0, epochs=EPOCHS) == 0.0)


def test_sparse_support_is_recovered() -> None:
    ref = {
        "synthetic": {
            "kind": "sparse_regression",
            "n_samples": 400,
            "n_features": 30,
            "n_informative": 5,
            "noise": 0.1,
            "seed": 3,
        }
    }
    data = load(ref)
    fold = _full_fold(data.X, data.y, "regression")
    X, y = fold.X_train.astype(np.float64), fold.y_train.astype(np.float64)
    reference = Lasso(alpha=0.05, tol=1e-12, max_iter=1_000_000).fit(X, y)
    ours = _ista(fold, "regression", lam=0.05, l1_ratio=1.0, epochs=EPOCHS, start=reference)
    assert data.true_support is not None
    assert set(np.flatnonzero(ours)) == set(data.true_support.tolist())


def test_a_warm_start_needs_a_linear_model(diabetes: Fold) -> None:
    config = TrainConfig(task="regression", n_out=1, model_kind="mlp", hidden_layers=(4,))
    start = LinearState(torch.zeros(1, 10), torch.zeros(1))
    with pytest.raises(ValueError, match="needs a linear model"):
        train_minibatch(config, [diabetes], warm_start=[start])


def test_dropout_is_active_in_training_and_off_in_evaluation() -> None:
    torch.manual_seed(0)
    model = build_model("mlp", n_in=10, n_out=1, hidden_layers=[64], batch_norm=False, dropout=0.5)
    x = torch.randn(32, 10)
    model.train()
    assert not torch.equal(model(x), model(x))
    model.eval()
    first, second = model(x), model(x)
    assert torch.equal(first, second)
    without_dropout = build_model(
        "mlp", n_in=10, n_out=1, hidden_layers=[64], batch_norm=False, dropout=0.0
    )
    without_dropout.load_state_dict(model.state_dict())
    without_dropout.eval()
    assert torch.allclose(first, without_dropout(x))


def test_early_stopping_restores_the_best_epoch() -> None:
    """An MLP far too big for 60 noisy rows overfits: training stops early and the value
    returned is the validation metric of the restored (best) weights."""
    ref = {
        "synthetic": {
            "kind": "sparse_regression",
            "n_samples": 120,
            "n_features": 40,
            "n_informative": 3,
            "noise": 2.0,
            "seed": 1,
        }
    }
    splits = make_splits(load(ref), test_fraction=0.2, holdout=0.4, folds=None, seed=0)
    config = TrainConfig(
        task="regression",
        n_out=1,
        model_kind="mlp",
        hidden_layers=(64,),
        lam=1e-6,
        l1_ratio=0.0,
        learning_rate=1e-2,
        batch_size=16,
        max_epochs=300,
        early_stopping=EarlyStop(patience=5, min_delta=0.0, restore_best=True),
    )
    result = train_minibatch(config, splits.folds)
    assert result.stopped_early
    assert result.epochs_run < config.max_epochs
    assert result.best_epoch < result.epochs_run
    assert result.value == pytest.approx(min(result.curve), rel=1e-9)
    assert result.value == pytest.approx(result.curve[result.best_epoch - 1], rel=1e-9)
    assert nonzero_inputs(result.models[0]) <= 40


def test_a_training_that_ran_every_epoch_did_not_stop_early() -> None:
    """Patience running out at the last epoch ends nothing early: the training ran
    ``max_epochs`` epochs (``regtune trials`` said "15, stopped early (best 10)" at max_epochs
    15). The same training with room for more epochs stops early there."""
    splits = make_splits(
        load({"builtin": "diabetes"}), test_fraction=0.2, holdout=0.3, folds=None, seed=0
    )
    config = TrainConfig(
        task="regression",
        n_out=1,
        model_kind="mlp",
        hidden_layers=(64,),
        lam=1e-6,
        l1_ratio=0.0,
        learning_rate=3e-2,
        batch_size=16,
        max_epochs=100,
        early_stopping=EarlyStop(patience=2, min_delta=0.0, restore_best=True),
    )
    longer = train_minibatch(config, splits.folds)
    assert longer.stopped_early and longer.epochs_run < config.max_epochs, longer.epochs_run
    exact = dataclasses.replace(config, max_epochs=longer.epochs_run)
    ended = train_minibatch(exact, splits.folds)
    assert (ended.epochs_run, ended.best_epoch) == (longer.epochs_run, longer.best_epoch)
    assert not ended.stopped_early


def test_rank_auc_equals_scikit_learn() -> None:
    from sklearn.metrics import roc_auc_score

    from regtune.service.model.metrics import roc_auc

    rng = np.random.default_rng(0)
    for n in (7, 50, 400):
        y = rng.integers(0, 2, n)
        score = np.round(rng.normal(size=n) + y, 1)  # rounded: ties happen
        assert roc_auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert math.isnan(roc_auc(np.ones(5, dtype=int), np.arange(5.0)))
