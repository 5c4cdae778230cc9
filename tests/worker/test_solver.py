"""The exact solver minimizes DESIGN.md's objective: scikit-learn's coefficients to 1e-4.

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

from worker.data import Standardizer, load
from worker.solver import LinearState, solve

ATOL = 1e-4
TIGHT = 1e-10


def _standardized(name: str) -> tuple[np.ndarray, np.ndarray, str]:
    data = load({"builtin": name})
    scaler = Standardizer.fit(data.X, data.y, data.task)
    X = scaler.x(data.X).astype(np.float64)
    y = scaler.y(data.y, data.task)
    return X, (y.astype(np.float64) if data.task == "regression" else y), data.task


@pytest.fixture(scope="module")
def diabetes() -> tuple[np.ndarray, np.ndarray]:
    X, y, _ = _standardized("diabetes")
    return X, y


@pytest.fixture(scope="module")
def wide() -> tuple[np.ndarray, np.ndarray]:
    """More features than rows (60 × 100, 5 informative): the solver's non-Gram geometry."""
    X, y = make_regression(n_samples=60, n_features=100, n_informative=5, noise=1.0, random_state=0)
    scaler = Standardizer.fit(X, y, "regression")
    return scaler.x(X).astype(np.float64), scaler.y(y, "regression").astype(np.float64)


@pytest.fixture(scope="module")
def breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    X, y, _ = _standardized("breast_cancer")
    return X, y


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    X, y, _ = _standardized("iris")
    return X, y


def _quiet_fit(model: Any, X: np.ndarray, y: np.ndarray) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # API-transition warnings of recent scikit-learn
        return model.fit(X, y)


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
    ours = solve(X, y, task="regression", lam=lam, l1_ratio=l1_ratio, tol=TIGHT, max_iter=50_000)
    assert ours.converged
    np.testing.assert_allclose(ours.state.weight.numpy().ravel(), reference.coef_, atol=ATOL)
    np.testing.assert_allclose(ours.state.bias.numpy(), [reference.intercept_], atol=ATOL)
    if l1_ratio > 0:  # the L1 part gives exact zeros, the same ones
        np.testing.assert_array_equal(ours.state.weight.numpy().ravel() == 0, reference.coef_ == 0)


def _logistic_reference(lam: float, l1_ratio: float, n: int) -> LogisticRegression:
    if l1_ratio == 0.0:
        return LogisticRegression(C=1.0 / (lam * n), tol=1e-12, max_iter=100_000)
    return LogisticRegression(
        C=1.0 / (lam * n), l1_ratio=l1_ratio, solver="saga", tol=1e-12, max_iter=200_000
    )


@pytest.mark.parametrize(
    ("l1_ratio", "lam"),
    [(0.0, 0.02), (0.0, 1e-3), (1.0, 0.01), (0.5, 0.01)],
    ids=["l2", "l2-weak", "l1", "elastic-net"],
)
def test_binary_logistic_matches_scikit_learn(
    breast_cancer: tuple[np.ndarray, np.ndarray], l1_ratio: float, lam: float
) -> None:
    X, y = breast_cancer
    reference = _quiet_fit(_logistic_reference(lam, l1_ratio, len(y)), X, y)
    ours = solve(X, y, task="binary", lam=lam, l1_ratio=l1_ratio, tol=TIGHT, max_iter=50_000)
    assert ours.converged
    assert ours.state.weight.shape == (1, X.shape[1])
    np.testing.assert_allclose(ours.state.weight.numpy(), reference.coef_, atol=ATOL)
    np.testing.assert_allclose(ours.state.bias.numpy(), reference.intercept_, atol=ATOL)
    if l1_ratio > 0:
        np.testing.assert_array_equal(ours.state.weight.numpy() == 0, reference.coef_ == 0)


@pytest.mark.parametrize(
    ("l1_ratio", "lam"),
    [(0.0, 0.01), (0.0, 1e-3), (0.5, 0.01)],
    ids=["l2", "l2-weak", "elastic-net"],
)
def test_multinomial_logistic_matches_scikit_learn(
    iris: tuple[np.ndarray, np.ndarray], l1_ratio: float, lam: float
) -> None:
    """Softmax over K outputs, every class's weights penalized (scikit-learn's multinomial)."""
    X, y = iris
    reference = _quiet_fit(_logistic_reference(lam, l1_ratio, len(y)), X, y)
    ours = solve(X, y, task="multiclass", lam=lam, l1_ratio=l1_ratio, tol=TIGHT, max_iter=50_000)
    assert ours.converged
    assert ours.state.weight.shape == (3, X.shape[1])
    np.testing.assert_allclose(ours.state.weight.numpy(), reference.coef_, atol=ATOL)
    # the unpenalized intercepts are defined up to a common shift: both sum to zero
    np.testing.assert_allclose(ours.state.bias.numpy(), reference.intercept_, atol=ATOL)


def test_tolerance_bounds_the_optimality_residual(breast_cancer: tuple[np.ndarray, ...]) -> None:
    """What ``tol`` promises: the minimal subgradient of the objective at the answer is ≤ tol."""
    X, y = breast_cancer
    lam, l1_ratio, tol = 0.01, 0.5, 1e-5
    result = solve(X, y, task="binary", lam=lam, l1_ratio=l1_ratio, tol=tol)
    assert result.converged and result.residual <= tol
    w = result.state.weight.clone().requires_grad_(True)
    b = result.state.bias.clone().requires_grad_(True)
    logits = torch.from_numpy(X) @ w.T + b
    data_term = torch.nn.functional.binary_cross_entropy_with_logits(
        logits[:, 0], torch.from_numpy(y).double()
    )
    smooth = data_term + lam * (1 - l1_ratio) / 2 * (w * w).sum()
    grad_w, grad_b = torch.autograd.grad(smooth, [w, b])
    w0, l1 = result.state.weight, lam * l1_ratio
    subgradient = torch.where(
        w0 != 0,
        grad_w + l1 * torch.sign(w0),
        torch.sign(grad_w) * torch.clamp(grad_w.abs() - l1, min=0.0),
    )
    residual = torch.cat([subgradient.ravel(), grad_b]).norm()
    assert float(residual) <= tol


def test_large_penalty_gives_exact_zeros(diabetes: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = diabetes
    result = solve(X, y, task="regression", lam=5.0, l1_ratio=1.0)
    assert result.converged
    assert torch.count_nonzero(result.state.weight) == 0
    assert float(result.state.bias) == pytest.approx(float(y.mean()), abs=1e-12)


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
    result = solve(X, y, task="regression", lam=0.05, l1_ratio=1.0)
    assert data.true_support is not None
    assert set(torch.nonzero(result.state.weight[0]).ravel().tolist()) == set(data.true_support)


def test_callback_runs_every_k_iterations_and_can_stop(
    breast_cancer: tuple[np.ndarray, np.ndarray],
) -> None:
    X, y = breast_cancer
    seen: list[tuple[int, tuple[int, ...], tuple[int, ...]]] = []

    def callback(iteration: int, state: LinearState) -> bool:
        seen.append((iteration, tuple(state.weight.shape), tuple(state.bias.shape)))
        return False

    full = solve(
        X, y, task="binary", lam=1e-3, l1_ratio=0.5, tol=TIGHT, report_every=7, callback=callback
    )
    assert full.converged and not full.stopped
    assert [i for i, _, _ in seen] == list(range(7, full.iterations, 7))
    assert all(shapes == (1, X.shape[1]) and bias == (1,) for _, shapes, bias in seen)

    calls: list[int] = []

    def prune_at_third(iteration: int, state: LinearState) -> bool:
        calls.append(iteration)
        return len(calls) == 3

    pruned = solve(
        X, y, task="binary", lam=1e-3, l1_ratio=0.5, tol=TIGHT, report_every=7,
        callback=prune_at_third,
    )  # fmt: skip
    assert pruned.stopped and not pruned.converged
    assert pruned.iterations == 21 and calls == [7, 14, 21]


def test_max_iter_bounds_the_work(iris: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = iris
    result = solve(X, y, task="multiclass", lam=1e-4, l1_ratio=0.5, tol=TIGHT, max_iter=25)
    assert result.iterations == 25 and not result.converged and not result.stopped


@pytest.mark.parametrize("task", ["regression", "binary", "multiclass"])
def test_warm_start_from_a_neighbour_converges_in_fewer_iterations(
    task: str,
    diabetes: tuple[np.ndarray, np.ndarray],
    breast_cancer: tuple[np.ndarray, np.ndarray],
    iris: tuple[np.ndarray, np.ndarray],
) -> None:
    """A trial near a finished one in (λ, ρ) starts from its weights: same answer, less work."""
    X, y = {"regression": diabetes, "binary": breast_cancer, "multiclass": iris}[task]
    options: dict[str, Any] = {"task": task, "tol": 1e-8, "max_iter": 50_000}
    neighbour = solve(X, y, lam=2e-3, l1_ratio=0.5, **options)
    cold = solve(X, y, lam=2.4e-3, l1_ratio=0.6, **options)
    warm = solve(X, y, lam=2.4e-3, l1_ratio=0.6, warm_start=neighbour.state, **options)
    assert cold.converged and warm.converged
    assert warm.iterations < cold.iterations
    # each within tol/μ of the minimizer, μ ≥ λ(1 − ρ) the strong convexity
    within = 2 * options["tol"] / (2.4e-3 * (1 - 0.6))
    np.testing.assert_allclose(warm.state.weight, cold.state.weight, rtol=0, atol=within)
    np.testing.assert_allclose(warm.state.bias, cold.state.bias, rtol=0, atol=within)


def test_solving_from_the_solution_stops_at_once(breast_cancer: tuple[np.ndarray, ...]) -> None:
    X, y = breast_cancer
    first = solve(X, y, task="binary", lam=0.01, l1_ratio=0.3, tol=1e-9)
    again = solve(X, y, task="binary", lam=0.01, l1_ratio=0.3, tol=1e-9, warm_start=first.state)
    assert again.converged and again.iterations <= 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lam": -1.0}, "lam must be finite and ≥ 0"),
        ({"l1_ratio": 1.5}, "l1_ratio must be in"),
        ({"tol": 0.0}, "tol must be > 0"),
        ({"max_iter": 0}, "max_iter must be ≥ 1"),
        ({"report_every": 0}, "report_every must be ≥ 1"),
    ],
)
def test_bad_options_are_refused(
    diabetes: tuple[np.ndarray, np.ndarray], options: dict[str, Any], message: str
) -> None:
    X, y = diabetes
    arguments: dict[str, Any] = {"task": "regression", "lam": 0.1, "l1_ratio": 0.5, **options}
    with pytest.raises(ValueError, match=message):
        solve(X, y, **arguments)
