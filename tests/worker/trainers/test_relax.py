"""The relaxed elastic net: (1 − relax) · the elastic net + relax · least squares on its
support, from a single trial, a path's points and the refit alike; the support is kept."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.linear_model import ElasticNet, LinearRegression

from regtune.worker.data import Fold, Splits, load, make_splits
from regtune.worker.paths import lambda_grid
from regtune.worker.trainers.config import ExactOptions, TrainConfig
from regtune.worker.trainers.exact import train_exact
from regtune.worker.trainers.path import train_path
from regtune.worker.trainers.relax import least_squares_on_support

TIGHT = ExactOptions(tol=1e-10, max_iter=200_000)


def _splits(dataset: dict[str, Any], folds: int) -> Splits:
    return make_splits(load(dataset), test_fraction=0.2, holdout=None, folds=folds, seed=0)


SPARSE = {
    "synthetic": {
        "kind": "sparse_regression",
        "n_samples": 200,
        "n_features": 30,
        "n_informative": 5,
        "noise": 1.0,
        "seed": 0,
    }
}


def _config(**overrides: Any) -> TrainConfig:
    base: dict[str, Any] = {
        "task": "regression",
        "n_out": 1,
        "model_kind": "linear",
        "solver": "exact",
        "exact": TIGHT,
    }
    return TrainConfig(**(base | overrides))


def _expected(fold: Fold, lam: float, l1_ratio: float, relax: float) -> tuple[np.ndarray, float]:
    """scikit-learn's: its ElasticNet at λ, then ordinary least squares on the columns it kept."""
    X, y = fold.X_train.astype(np.float64), fold.y_train.astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = ElasticNet(alpha=lam, l1_ratio=l1_ratio, tol=1e-14, max_iter=1_000_000).fit(X, y)
    support = np.flatnonzero(net.coef_)
    ols = LinearRegression().fit(X[:, support], y)
    least = np.zeros_like(net.coef_)
    least[support] = ols.coef_
    weight = (1 - relax) * net.coef_ + relax * least
    return weight, float(y.mean() - weight @ X.mean(0))


def _model(module: torch.nn.Module) -> tuple[np.ndarray, float]:
    assert isinstance(module, torch.nn.Sequential)
    layer = module[1]
    assert isinstance(layer, torch.nn.Linear)
    return layer.weight.detach().double().numpy().ravel(), float(layer.bias.detach()[0])


@pytest.mark.parametrize(("l1_ratio", "relax"), [(1.0, 1.0), (0.5, 0.4)])
def test_a_trial_is_the_blend_of_its_elastic_net_and_least_squares_on_the_support(
    l1_ratio: float, relax: float
) -> None:
    splits = _splits(SPARSE, folds=3)
    lam = 0.05
    result = train_exact(_config(lam=lam, l1_ratio=l1_ratio, relax=relax), splits.folds)
    plain = train_exact(_config(lam=lam, l1_ratio=l1_ratio), splits.folds)
    assert result.converged and result.n_nonzero == plain.n_nonzero
    for module, fold, state, own in zip(
        result.models, splits.folds, result.states, plain.states, strict=True
    ):
        weight, bias = _model(module)
        expected, intercept = _expected(fold, lam, l1_ratio, relax)
        np.testing.assert_allclose(weight, expected, atol=1e-5)  # the model is float32
        assert bias == pytest.approx(intercept, abs=1e-5)
        assert np.array_equal(weight != 0, expected != 0)
        # the states (warm starts) stay the elastic net's solution
        np.testing.assert_allclose(state.weight, own.weight, atol=1e-8)
    # less shrinkage fits the training rows of a sparse truth better: the value differs
    assert result.value != plain.value


def test_each_relaxed_point_equals_a_relaxed_cold_solve() -> None:
    splits = _splits(SPARSE, folds=3)
    lambdas = lambda_grid(1e-3, 1.0, 8, offset=0.3)
    knobs = {"l1_ratio": 0.8, "relax": 0.7}
    points = train_path(_config(**knobs), splits.folds, lambdas)
    assert [p.lam for p in points] == lambdas
    for point in points:
        cold = train_exact(_config(lam=point.lam, **knobs), splits.folds)
        assert point.result.converged and cold.converged
        for mine, theirs in zip(point.result.states, cold.states, strict=True):
            np.testing.assert_allclose(mine.weight, theirs.weight, rtol=0, atol=1e-6)
        assert point.result.stacked_weights is not None
        for weights, module in zip(point.result.stacked_weights, cold.models, strict=True):
            np.testing.assert_allclose(weights.ravel(), _model(module)[0], atol=1e-5)
        assert point.result.value == pytest.approx(cold.value, rel=1e-4)
        assert point.result.n_nonzero == cold.n_nonzero


def test_least_squares_on_a_collinear_support_takes_the_least_norm_solution() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 1))
    X = np.hstack([x, x, rng.normal(size=(50, 1))])  # two equal columns
    y = 2 * x[:, 0] + 0.1 * rng.normal(size=50)
    Xc, yc = X - X.mean(0), y - y.mean()
    gram, cross = Xc.T @ Xc / len(X), yc @ Xc / len(X)
    fitted = least_squares_on_support(gram, cross, np.array([1.0, 1.0, 0.0]), np.zeros(3))
    assert fitted[2] == 0 and np.isfinite(fitted).all()
    assert fitted[0] == pytest.approx(fitted[1]) and fitted[0] + fitted[1] == pytest.approx(
        2.0, abs=0.1
    )


def test_relax_is_refused_for_the_cross_entropy() -> None:
    splits = make_splits(
        load({"builtin": "iris"}), test_fraction=0.2, holdout=0.2, folds=None, seed=0
    )
    config = _config(task="multiclass", n_out=3, lam=0.01, relax=0.5)
    with pytest.raises(ValueError, match="least squares"):
        train_exact(config, splits.folds)
    with pytest.raises(ValueError, match="least squares"):
        train_path(config, splits.folds, [0.1, 0.01])


def test_a_relaxed_path_stores_each_lambda_at_each_relax_value_from_one_solve() -> None:
    splits = _splits(SPARSE, folds=3)
    lambdas = lambda_grid(1e-3, 1.0, 6, offset=0.3)
    shares = (0.0, 0.5, 1.0)
    points = train_path(_config(l1_ratio=0.9), splits.folds, lambdas, relax=shares)
    assert [(p.lam, p.relax) for p in points] == [(lam, r) for lam in lambdas for r in shares]
    for point in points:
        cold = train_exact(_config(lam=point.lam, l1_ratio=0.9, relax=point.relax), splits.folds)
        assert point.result.stacked_weights is not None
        for weights, module in zip(point.result.stacked_weights, cold.models, strict=True):
            np.testing.assert_allclose(weights.ravel(), _model(module)[0], atol=1e-5)
        scored = {**point.result.val_metrics, **point.result.test_metrics}
        for name, value in {**cold.val_metrics, **cold.test_metrics}.items():
            assert scored[name] == pytest.approx(value, rel=1e-4, abs=1e-5), name
        for mine, theirs in zip(point.result.states, cold.states, strict=True):
            np.testing.assert_allclose(mine.weight, theirs.weight, rtol=0, atol=1e-6)


def test_a_relaxed_path_stops_on_each_lambdas_best_relax_value() -> None:
    """The stopping rule compares a λ's best point: patience counts λ values, not points."""
    splits = _splits(SPARSE, folds=3)
    lambdas = lambda_grid(1e-4, 1.0, 60)
    shares = (0.0, 0.5, 1.0)
    points = train_path(_config(l1_ratio=1.0), splits.folds, lambdas, relax=shares, patience=5)
    assert len(points) % 3 == 0 and len(points) < 3 * len(lambdas)
    best = [min(points[i : i + 3], key=lambda p: p.result.value) for i in range(0, len(points), 3)]
    values = [p.result.value for p in best]
    top = int(np.argmin(values))
    assert len(values) - 1 - top == 5  # five λ without a better best, then it stopped
