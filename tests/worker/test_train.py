"""The trainer minimizes exactly the objective of DESIGN.md: same minimizers as scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression, Ridge

from worker.data import Fold, Standardizer, load, make_splits
from worker.models import build_model, nonzero_inputs
from worker.train import TrainConfig, train


def _full_fold(X: np.ndarray, y: np.ndarray, task: str) -> Fold:
    scaler = Standardizer.fit(X, y, task)
    Xs, ys = scaler.x(X), scaler.y(y, task)
    return Fold(Xs, ys, Xs, ys, Xs, ys, scaler)


def _ista(fold: Fold, task: str, *, lam: float, l1_ratio: float, epochs: int) -> np.ndarray:
    """Full-batch proximal gradient (ISTA) with step 1/L, L the data term's Lipschitz constant."""
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
    result = train(config, [fold])
    return result.models[0][1].weight.detach().double().numpy().ravel()


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
        reference = Ridge(alpha=lam * n, tol=1e-12).fit(X, y).coef_
    elif l1_ratio == 1.0:
        reference = Lasso(alpha=lam, tol=1e-12, max_iter=1_000_000).fit(X, y).coef_
    else:
        reference = ElasticNet(alpha=lam, l1_ratio=l1_ratio, tol=1e-12, max_iter=1_000_000)
        reference = reference.fit(X, y).coef_
    ours = _ista(diabetes, "regression", lam=lam, l1_ratio=l1_ratio, epochs=6000)
    assert _relative_error(ours, reference) < 1e-3
    if l1_ratio > 0:
        # the proximal step reproduces the exact zeros of the L1 solution
        np.testing.assert_array_equal(ours == 0, reference == 0)


def test_logistic_regression_matches_scikit_learn() -> None:
    data = load({"builtin": "breast_cancer"})
    fold = _full_fold(data.X, data.y, "binary")
    lam, l1_ratio = 0.02, 0.5
    X, y = fold.X_train.astype(np.float64), fold.y_train
    # mean cross-entropy + λ(...): C = 1 / (λ·n)
    reference = LogisticRegression(
        C=1.0 / (lam * len(y)), l1_ratio=l1_ratio, solver="saga", tol=1e-12, max_iter=200_000
    )
    reference_coef = reference.fit(X, y).coef_.ravel()
    ours = _ista(fold, "binary", lam=lam, l1_ratio=l1_ratio, epochs=8000)
    assert _relative_error(ours, reference_coef) < 1e-3


def test_large_penalty_gives_exact_zeros(diabetes: Fold) -> None:
    ours = _ista(diabetes, "regression", lam=5.0, l1_ratio=1.0, epochs=300)
    assert np.all(ours == 0.0)


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
    ours = _ista(fold, "regression", lam=0.05, l1_ratio=1.0, epochs=3000)
    assert data.true_support is not None
    assert set(np.flatnonzero(ours)) == set(data.true_support.tolist())


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
    from worker.train import EarlyStop

    config = TrainConfig(
        task="regression",
        n_out=1,
        model_kind="mlp",
        hidden_layers=(256, 256),
        lam=1e-6,
        l1_ratio=0.0,
        learning_rate=3e-3,
        batch_size=16,
        max_epochs=300,
        early_stopping=EarlyStop(patience=5, min_delta=0.0, restore_best=True),
    )
    result = train(config, splits.folds)
    assert result.stopped_early
    assert result.epochs_run < config.max_epochs
    assert result.best_epoch < result.epochs_run
    assert result.value == pytest.approx(min(result.curve), rel=1e-9)
    assert result.value == pytest.approx(result.curve[result.best_epoch - 1], rel=1e-9)
    assert nonzero_inputs(result.models[0]) <= 40


def test_rank_auc_equals_scikit_learn() -> None:
    from sklearn.metrics import roc_auc_score

    from worker.evaluation import roc_auc

    rng = np.random.default_rng(0)
    for n in (7, 50, 400):
        y = rng.integers(0, 2, n)
        score = np.round(rng.normal(size=n) + y, 1)  # rounded: ties happen
        assert roc_auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert math.isnan(roc_auc(np.ones(5, dtype=int), np.arange(5.0)))
