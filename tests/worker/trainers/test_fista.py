"""FISTA minimizes DESIGN.md's objective: scikit-learn's coefficients are its fixed point.

Each test starts the solver at scikit-learn's answer and asserts that it is optimal for our
objective within a few iterations (the scalings below are right) and stays there to 1e-4.
Solving from scratch to convergence is for ``bench.solver``.

Scalings (objective ½·MSE or mean cross-entropy + λ(ρ‖w‖₁ + (1−ρ)/2‖w‖²)):
ElasticNet/Lasso ``alpha = λ``; Ridge ``alpha = λ·n``; LogisticRegression ``C = 1/(λ·n)``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.datasets import make_regression
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression, Ridge

from regtune.worker.data import Standardizer, load
from regtune.worker.trainers.fista import Fista, LinearState, Task

ATOL = 1e-4
TOL = 1e-8
FEW = 100
"""Iterations a solver started at the optimum may take to certify it (from zeros: thousands)."""


def _standardized(name: str) -> tuple[np.ndarray, np.ndarray]:
    data = load({"builtin": name})
    scaler = Standardizer.fit(data.X, data.y, data.task)
    X = scaler.x(data.X).astype(np.float64)
    y = scaler.y(data.y, data.task)
    return X, (y.astype(np.float64) if data.task == "regression" else y)


@pytest.fixture(scope="module")
def diabetes() -> tuple[np.ndarray, np.ndarray]:
    return _standardized("diabetes")


@pytest.fixture(scope="module")
def wide() -> tuple[np.ndarray, np.ndarray]:
    """More features than rows (60 × 100, 5 informative): the solver's non-Gram geometry."""
    X, y = make_regression(n_samples=60, n_features=100, n_informative=5, noise=1.0, random_state=0)
    scaler = Standardizer.fit(X, y, "regression")
    return scaler.x(X).astype(np.float64), scaler.y(y, "regression").astype(np.float64)


@pytest.fixture(scope="module")
def breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    return _standardized("breast_cancer")


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    return _standardized("iris")


def _quiet_fit(model: Any, X: np.ndarray, y: np.ndarray) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # API-transition warnings of recent scikit-learn
        return model.fit(X, y)


def _at(reference: Any) -> LinearState:
    """scikit-learn's answer as a starting point."""
    weight = np.atleast_2d(reference.coef_)
    bias = np.atleast_1d(reference.intercept_)
    return LinearState(torch.from_numpy(weight.copy()), torch.from_numpy(bias.astype(np.float64)))


def _fixed_point(
    X: np.ndarray, y: np.ndarray, reference: Any, *, task: Task, lam: float, l1_ratio: float
) -> LinearState:
    """Start at ``reference``: optimal to ``TOL`` within ``FEW`` iterations, still within
    ``ATOL`` of it, with the same exact zeros when there is an L1 part."""
    fista = Fista(X, y, task=task, lam=lam, l1_ratio=l1_ratio, warm_start=_at(reference))
    assert fista.run(FEW, tol=TOL), f"not optimal after {FEW} iterations: {fista.residual=}"
    state = fista.state()
    weight, coef = state.weight.numpy(), np.atleast_2d(reference.coef_)
    np.testing.assert_allclose(weight, coef, atol=ATOL)
    if l1_ratio > 0:
        np.testing.assert_array_equal(weight == 0, coef == 0)
    return state


def _regression_reference(lam: float, l1_ratio: float, n: int) -> Any:
    if l1_ratio == 0.0:
        return Ridge(alpha=lam * n, tol=1e-12)
    if l1_ratio == 1.0:
        return Lasso(alpha=lam, tol=1e-12, max_iter=1_000_000)
    return ElasticNet(alpha=lam, l1_ratio=l1_ratio, tol=1e-12, max_iter=1_000_000)


@pytest.mark.parametrize("dataset", ["diabetes", "wide"])
@pytest.mark.parametrize(
    ("l1_ratio", "lam"),
    [(0.0, 0.05), (0.0, 1e-4), (1.0, 0.02), (0.5, 0.03), (0.7, 0.005)],
    ids=["ridge", "ridge-weak", "lasso", "elastic-net", "elastic-net-weak"],
)
def test_regression_matches_scikit_learn(
    dataset: str, l1_ratio: float, lam: float, request: pytest.FixtureRequest
) -> None:
    X, y = request.getfixturevalue(dataset)
    if dataset == "wide" and l1_ratio == 1.0:
        lam = 0.05  # a pure lasso with d > n: a penalty large enough for a unique solution
    reference = _quiet_fit(_regression_reference(lam, l1_ratio, len(y)), X, y)
    state = _fixed_point(X, y, reference, task="regression", lam=lam, l1_ratio=l1_ratio)
    np.testing.assert_allclose(state.bias.numpy(), [reference.intercept_], atol=ATOL)


def _logistic_reference(lam: float, l1_ratio: float, n: int) -> LogisticRegression:
    if l1_ratio == 0.0:
        return LogisticRegression(C=1.0 / (lam * n), tol=1e-10, max_iter=100_000)
    return LogisticRegression(
        C=1.0 / (lam * n), l1_ratio=l1_ratio, solver="saga", tol=1e-8, max_iter=200_000
    )


@pytest.mark.parametrize(
    ("l1_ratio", "lam"), [(0.0, 0.02), (1.0, 0.01), (0.5, 0.01)], ids=["l2", "l1", "elastic-net"]
)
def test_binary_logistic_matches_scikit_learn(
    breast_cancer: tuple[np.ndarray, np.ndarray], l1_ratio: float, lam: float
) -> None:
    X, y = breast_cancer
    reference = _quiet_fit(_logistic_reference(lam, l1_ratio, len(y)), X, y)
    state = _fixed_point(X, y, reference, task="binary", lam=lam, l1_ratio=l1_ratio)
    assert state.weight.shape == (1, X.shape[1])
    np.testing.assert_allclose(state.bias.numpy(), reference.intercept_, atol=ATOL)


@pytest.mark.parametrize(("l1_ratio", "lam"), [(0.0, 0.01), (0.5, 0.01)], ids=["l2", "elastic-net"])
def test_multinomial_logistic_matches_scikit_learn(
    iris: tuple[np.ndarray, np.ndarray], l1_ratio: float, lam: float
) -> None:
    """Softmax over K outputs, every class's weights penalized (scikit-learn's multinomial)."""
    X, y = iris
    reference = _quiet_fit(_logistic_reference(lam, l1_ratio, len(y)), X, y)
    state = _fixed_point(X, y, reference, task="multiclass", lam=lam, l1_ratio=l1_ratio)
    assert state.weight.shape == (3, X.shape[1])
    # the unpenalized intercepts are defined up to a common shift: both sum to zero
    np.testing.assert_allclose(state.bias.numpy(), reference.intercept_, atol=ATOL)


def test_tolerance_bounds_the_optimality_residual(breast_cancer: tuple[np.ndarray, ...]) -> None:
    """What ``tol`` promises: the minimal subgradient of the objective at the answer is ≤ tol
    (recomputed here by autograd, independently of the solver)."""
    X, y = breast_cancer
    lam, l1_ratio, tol = 0.01, 0.5, 1e-5
    fista = Fista(X, y, task="binary", lam=lam, l1_ratio=l1_ratio)
    assert fista.run(10_000, tol=tol) and fista.residual <= tol
    state = fista.state()
    w = state.weight.clone().requires_grad_(True)
    b = state.bias.clone().requires_grad_(True)
    logits = torch.from_numpy(X) @ w.T + b
    data_term = torch.nn.functional.binary_cross_entropy_with_logits(
        logits[:, 0], torch.from_numpy(y).double()
    )
    smooth = data_term + lam * (1 - l1_ratio) / 2 * (w * w).sum()
    grad_w, grad_b = torch.autograd.grad(smooth, [w, b])
    w0, l1 = state.weight, lam * l1_ratio
    subgradient = torch.where(
        w0 != 0,
        grad_w + l1 * torch.sign(w0),
        torch.sign(grad_w) * torch.clamp(grad_w.abs() - l1, min=0.0),
    )
    residual = torch.cat([subgradient.ravel(), grad_b]).norm()
    assert float(residual) <= tol


def test_large_penalty_gives_exact_zeros(diabetes: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = diabetes
    fista = Fista(X, y, task="regression", lam=5.0, l1_ratio=1.0)
    assert fista.run(FEW, tol=1e-6)
    state = fista.state()
    assert torch.count_nonzero(state.weight) == 0
    assert float(state.bias) == pytest.approx(float(y.mean()), abs=1e-12)


def test_lasso_selects_the_true_support() -> None:
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
    scaler = Standardizer.fit(data.X, data.y, "regression")
    X, y = scaler.x(data.X), scaler.y(data.y, "regression")
    fista = Fista(X, y, task="regression", lam=0.05, l1_ratio=1.0)
    assert fista.run(1_000, tol=1e-6)
    assert data.true_support is not None
    assert set(torch.nonzero(fista.state().weight[0]).ravel().tolist()) == set(data.true_support)


def test_run_advances_at_most_the_steps_asked(iris: tuple[np.ndarray, np.ndarray]) -> None:
    """The trainer interleaves folds and reports between calls: ``run(k)`` is k iterations."""
    X, y = iris
    fista = Fista(X, y, task="multiclass", lam=1e-4, l1_ratio=0.5)
    assert not fista.run(25, tol=TOL) and fista.iterations == 25
    assert not fista.run(5, tol=TOL) and fista.iterations == 30


@pytest.mark.parametrize("task", ["regression", "binary", "multiclass"])
def test_warm_start_from_a_neighbour_converges_in_fewer_iterations(
    task: Task,
    diabetes: tuple[np.ndarray, np.ndarray],
    breast_cancer: tuple[np.ndarray, np.ndarray],
    iris: tuple[np.ndarray, np.ndarray],
) -> None:
    """A trial near a finished one in (λ, ρ) starts from its weights: same answer, less work."""
    X, y = {"regression": diabetes, "binary": breast_cancer, "multiclass": iris}[task]
    tol = 1e-6

    def solved(lam: float, l1_ratio: float, start: LinearState | None = None) -> Fista:
        fista = Fista(X, y, task=task, lam=lam, l1_ratio=l1_ratio, warm_start=start)
        assert fista.run(50_000, tol=tol)
        return fista

    neighbour = solved(2e-3, 0.5)
    cold = solved(2.4e-3, 0.6)
    warm = solved(2.4e-3, 0.6, neighbour.state())
    assert warm.iterations < cold.iterations
    # each within tol/μ of the minimizer, μ ≥ λ(1 − ρ) the strong convexity
    within = 2 * tol / (2.4e-3 * (1 - 0.6))
    np.testing.assert_allclose(warm.state().weight, cold.state().weight, rtol=0, atol=within)
    np.testing.assert_allclose(warm.state().bias, cold.state().bias, rtol=0, atol=within)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"lam": -1.0}, "lam must be finite and ≥ 0"), ({"l1_ratio": 1.5}, "l1_ratio must be in")],
)
def test_bad_options_are_refused(
    diabetes: tuple[np.ndarray, np.ndarray], options: dict[str, Any], message: str
) -> None:
    X, y = diabetes
    arguments: dict[str, Any] = {"task": "regression", "lam": 0.1, "l1_ratio": 0.5, **options}
    with pytest.raises(ValueError, match=message):
        Fista(X, y, **arguments)
