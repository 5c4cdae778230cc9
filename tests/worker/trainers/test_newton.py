"""Newton's method on the support finds the cross-entropy minimizer the proximal gradient finds,
from the previous λ's solution, and declines what it cannot solve."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from regtune.worker.data import load, make_splits
from regtune.worker.trainers import newton
from regtune.worker.trainers.fista import Fista, _CrossEntropy


def _problem(name: str, n_out: int, lam: float, l1_ratio: float) -> tuple[_CrossEntropy, float]:
    splits = make_splits(
        load({"builtin": name}), test_fraction=0.2, holdout=0.2, folds=None, seed=0
    )
    fold = splits.folds[0]
    X = torch.from_numpy(np.asarray(fold.X_train)).double()
    y = torch.from_numpy(np.asarray(fold.y_train))
    l2 = torch.full((X.shape[1],), lam * (1 - l1_ratio), dtype=torch.float64)
    return _CrossEntropy.of(X, y, l2, n_out), lam * l1_ratio


def _cold(problem: _CrossEntropy, l1: float, start: torch.Tensor) -> torch.Tensor:
    d = problem.X.shape[1] - 1
    solver = Fista.on(problem, start, l1=l1, n_features=d, n_entries=problem.X.numel())
    assert solver.run(500_000, tol=1e-10)
    return solver.P


@pytest.mark.parametrize(("name", "n_out"), [("breast_cancer", 1), ("wine", 3), ("iris", 3)])
@pytest.mark.parametrize("l1_ratio", [0.0, 0.5, 0.95])
def test_each_point_of_a_path_is_the_minimizer_from_the_one_before(
    name: str, n_out: int, l1_ratio: float
) -> None:
    previous: torch.Tensor | None = None
    for lam in np.geomspace(1.0, 1e-3, 8):
        problem, l1 = _problem(name, n_out, float(lam), l1_ratio)
        zero = torch.zeros(n_out, problem.X.shape[1], dtype=torch.float64)
        start = zero if previous is None else previous
        found = newton.newton_on_support(
            problem.X, problem.target, start, binary=n_out == 1, l1=l1, l2=problem.l2, tol=1e-8
        )
        assert found is not None, f"λ={lam:g}: no minimizer on the support"
        expected = _cold(problem, l1, zero)
        np.testing.assert_allclose(found, expected, rtol=0, atol=1e-6)
        assert torch.equal(found[:, :-1] != 0, expected[:, :-1] != 0)  # the same support
        previous = found


def test_too_many_unknowns_are_left_to_the_proximal_gradient(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problem, l1 = _problem("wine", 3, 0.01, 0.0)
    monkeypatch.setattr(newton, "MAX_UNKNOWNS", 10)  # wine has 3 × 14 with every weight free
    start = torch.zeros(3, problem.X.shape[1], dtype=torch.float64)
    assert (
        newton.newton_on_support(
            problem.X, problem.target, start, binary=False, l1=l1, l2=problem.l2, tol=1e-8
        )
        is None
    )


@pytest.mark.parametrize(("n", "c", "k"), [(50, 4, 1), (60, 5, 2), (80, 6, 3), (200, 11, 7)])
def test_the_hessian_is_the_cross_entropys_second_derivative(n: int, c: int, k: int) -> None:
    """``_hessian`` against autograd's Hessian of the mean cross-entropy in P (k = 1: the
    logistic loss, sigmoid; else softmax), on random data and weights."""
    generator = torch.Generator().manual_seed(n)
    X = torch.randn(n, c, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, max(k, 2), (n,), generator=generator)
    binary = k == 1
    target = labels[:, None].double() if binary else torch.nn.functional.one_hot(labels, k).double()
    P = torch.randn(k, c, generator=generator, dtype=torch.float64)

    def loss(flat: torch.Tensor) -> torch.Tensor:
        logits = X @ flat.view(k, c).T
        if binary:
            return torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
        return -(torch.log_softmax(logits, dim=1) * target).sum(dim=1).mean()

    expected = torch.autograd.functional.hessian(loss, P.flatten())
    logits = X @ P.T
    prob = torch.sigmoid(logits) if binary else torch.softmax(logits, dim=1)
    np.testing.assert_allclose(newton._hessian(X, prob, binary), expected, rtol=0, atol=1e-12)
    # a support's entries alone, formed over them (not every class × column, then taken)
    index = torch.randperm(k * c, generator=generator)[: max(1, k * c // 3)].sort().values
    np.testing.assert_allclose(
        newton._hessian(X, prob, binary, index), expected[index][:, index], rtol=0, atol=1e-12
    )
