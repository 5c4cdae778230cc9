"""The λ path: every point is the minimizer a cold solve at that λ finds, screening or not."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from regtune.worker.data import Dataset, Splits, load, make_splits
from regtune.worker.paths import Grid, lambda_grid
from regtune.worker.trainers.config import ExactOptions, TrainConfig
from regtune.worker.trainers.exact import train_exact
from regtune.worker.trainers.path import _FoldPath, _SupportsTogether, largest_gradient, train_path

TIGHT = ExactOptions(tol=1e-9, max_iter=200_000)
"""Both sides solved far below 1e-6, so their difference is the path's, not the tolerance's."""


def _splits(name: str, *, folds: int | None = None) -> Splits:
    holdout = None if folds else 0.2
    return make_splits(
        load({"builtin": name}), test_fraction=0.2, holdout=holdout, folds=folds, seed=0
    )


def _config(task: str, n_out: int, **overrides: Any) -> TrainConfig:
    base: dict[str, Any] = {
        "task": task,
        "n_out": n_out,
        "model_kind": "linear",
        "solver": "exact",
        "exact": TIGHT,
    }
    return TrainConfig(**(base | overrides))


@pytest.mark.parametrize(
    ("dataset", "task", "n_out", "folds", "knobs"),
    [
        ("diabetes", "regression", 1, 3, {"l1_ratio": 0.7}),
        ("diabetes", "regression", 1, None, {"l1_ratio": 0.0, "input_noise": 0.1}),
        ("breast_cancer", "binary", 1, None, {"l1_ratio": 0.9, "dropout": 0.2}),
        ("iris", "multiclass", 3, 2, {"l1_ratio": 0.5}),
    ],
)
def test_each_point_equals_a_cold_solve_at_its_lambda(
    dataset: str, task: str, n_out: int, folds: int | None, knobs: dict[str, float]
) -> None:
    splits = _splits(dataset, folds=folds)
    lambdas = lambda_grid(1e-3, 1.0, 6, offset=0.3)
    points = train_path(_config(task, n_out, **knobs), splits.folds, lambdas)
    assert [p.lam for p in points] == lambdas
    for point in points:
        cold = train_exact(_config(task, n_out, lam=point.lam, **knobs), splits.folds)
        assert point.result.converged and cold.converged
        for mine, theirs in zip(point.result.states, cold.states, strict=True):
            np.testing.assert_allclose(mine.weight, theirs.weight, rtol=0, atol=1e-6)
            np.testing.assert_allclose(mine.bias, theirs.bias, rtol=0, atol=1e-6)
        # a point is scored from its states, the cold solve through its modules: same metrics
        scored = {**point.result.val_metrics, **point.result.test_metrics}
        for name, value in {**cold.val_metrics, **cold.test_metrics}.items():
            assert scored[name] == pytest.approx(value, rel=1e-4, abs=1e-5), name
        assert point.result.n_nonzero == cold.n_nonzero
        assert math.isclose(point.result.value, cold.value, rel_tol=1e-6)


@pytest.mark.parametrize("knobs", [{"l1_ratio": 1.0}, {"l1_ratio": 1.0, "input_noise": 0.1}])
def test_a_lasso_path_follows_its_lines_and_each_point_equals_a_cold_solve(
    knobs: dict[str, float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lasso's path is a line in λ while the support holds: a point's first try is the
    previous point moved along it, no solve (each point took one at least before). The inputs'
    fixed L2 (``input_noise``) keeps the lines straight."""
    splits = _splits("diabetes", folds=3)
    lambdas = lambda_grid(1e-3, 1.0, 40)
    solves: list[int] = []
    solve = np.linalg.solve

    def counted(*args: Any, **kwargs: Any) -> Any:
        solves.append(1)
        return solve(*args, **kwargs)

    monkeypatch.setattr(np.linalg, "solve", counted)
    points = train_path(_config("regression", 1, **knobs), splits.folds, lambdas)
    monkeypatch.undo()
    assert [p.lam for p in points] == lambdas
    assert 0 < len(solves) < len(lambdas)  # one a point at least, without the lines
    for point in points:
        cold = train_exact(_config("regression", 1, lam=point.lam, **knobs), splits.folds)
        assert point.result.converged and cold.converged
        for mine, theirs in zip(point.result.states, cold.states, strict=True):
            np.testing.assert_allclose(mine.weight, theirs.weight, rtol=0, atol=1e-6)
            np.testing.assert_allclose(mine.bias, theirs.bias, rtol=0, atol=1e-6)


def test_the_path_stops_when_validation_stops_improving() -> None:
    splits = _splits("diabetes")
    config = _config("regression", 1, l1_ratio=0.5, exact=ExactOptions(tol=1e-6))
    lambdas = lambda_grid(1e-6, 10.0, 40)
    full = train_path(config, splits.folds, lambdas)
    stopped = train_path(config, splits.folds, lambdas, patience=3)
    values = [p.result.value for p in full]
    n = len(stopped)
    assert len(full) == 40 and 3 < n < 40
    assert [p.result.value for p in stopped] == pytest.approx(values[:n])
    assert min(values[n - 3 : n]) >= min(values[: n - 3])  # 3 points without improvement
    assert min(values[: n - 3]) < min(values[: n - 4])  # ... right after the last one


def test_the_grid_is_log_spaced_inside_the_range_largest_first() -> None:
    assert lambda_grid(1e-4, 1.0, 5) == pytest.approx([1.0, 1e-1, 1e-2, 1e-3, 1e-4])
    shifted = lambda_grid(1e-4, 1.0, 4, offset=0.5)
    assert shifted == sorted(shifted, reverse=True)
    assert all(1e-4 <= lam <= 1.0 for lam in shifted)
    assert np.allclose(np.diff(np.log10(shifted)), -1.0)
    with pytest.raises(ValueError, match="offset"):
        lambda_grid(1e-4, 1.0, 4, offset=1.0)


@pytest.mark.parametrize(
    ("dataset", "task", "n_out", "knobs"),
    [
        ("diabetes", "regression", 1, {"l1_ratio": 0.3, "input_noise": 0.1}),
        ("breast_cancer", "binary", 1, {"l1_ratio": 0.9, "dropout": 0.2}),
        ("iris", "multiclass", 3, {"l1_ratio": 0.5}),
    ],
)
def test_lambda_max_is_where_the_first_weight_leaves_zero(
    dataset: str, task: str, n_out: int, knobs: dict[str, float]
) -> None:
    splits = _splits(dataset, folds=3)
    top = largest_gradient(splits.folds, task=task, n_out=n_out) / knobs["l1_ratio"]
    above = train_exact(_config(task, n_out, lam=top * 1.001, **knobs), splits.folds)
    below = train_exact(_config(task, n_out, lam=top * 0.99, **knobs), splits.folds)
    assert above.converged and below.converged
    assert not any(state.weight.any() for state in above.states)
    assert any(state.weight.any() for state in below.states)  # the fold of the largest gradient


def test_a_path_runs_from_lambda_max_to_a_fraction_of_the_lassos_inside_the_range() -> None:
    grid = Grid(1e-4, 10.0, 3, min_ratio=1e-2)
    assert grid.lambdas() == lambda_grid(1e-4, 10.0, 3)  # the data unknown: the range
    assert grid.lambdas(1.0) == pytest.approx([1.0, 1e-1, 1e-2])  # the lasso: glmnet's grid
    # less L1: λ_max moves up (here past the range's top), the end stays
    assert grid.lambdas(1.0, l1_ratio=0.5) == pytest.approx(lambda_grid(1e-2, 2.0, 3))
    assert grid.lambdas(1.0, l1_ratio=0.0) == pytest.approx(lambda_grid(1e-2, 10.0, 3))
    assert grid.lambdas(1e-3) == lambda_grid(1e-4, 1e-3, 3)  # the end below the range's low
    assert grid.lambdas(1e-5) == grid.lambdas()  # every λ of the range zeroes every weight
    assert Grid(1e-4, 10.0, 3).lambdas(1.0) == lambda_grid(1e-4, 1.0, 3)  # no min_ratio


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5, 0.0])
@pytest.mark.parametrize("twin", [False, True])
def test_the_folds_solved_together_are_each_folds_own_exact_solve(
    l1_ratio: float, twin: bool
) -> None:
    """One batched try on the folds' supports answers, fold by fold, what each fold's own try
    answers, from random starts (support changes both ways), with a column twice (the lasso's
    singular system) or not."""
    splits = _splits("diabetes", folds=4)
    if twin:
        for fold in splits.folds:
            for name in ("X_train", "X_val", "X_test"):
                X = getattr(fold, name)
                setattr(fold, name, np.hstack([X, X[:, :1]]))
    config = _config("regression", 1, l1_ratio=l1_ratio)
    rng = np.random.default_rng(0)
    for lam in (0.5, 0.05, 0.005):
        alone = [_FoldPath(config, fold, None) for fold in splits.folds]
        together = [_FoldPath(config, fold, None) for fold in splits.folds]
        for a, b in zip(alone, together, strict=True):
            start = rng.normal(size=a.n_features) * (rng.random(a.n_features) < 0.5)
            a.P.numpy()[0], b.P.numpy()[0] = start, start
        l2 = lam * (1 - l1_ratio) + alone[0].input_l2.numpy()
        expected = [a._least_squares(lam * l1_ratio, l2, 1e-9) for a in alone]
        solver = _SupportsTogether.of(together)
        assert solver is not None
        assert solver.solve(lam, l1_ratio, 1e-9) == expected
        for a, b in zip(alone, together, strict=True):
            np.testing.assert_allclose(b.P.numpy(), a.P.numpy(), rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    ("dataset", "task", "n_out"), [("diabetes", "regression", 1), ("iris", "multiclass", 3)]
)
def test_a_folds_problem_is_made_once_and_later_paths_on_it_are_as_on_fresh_folds(
    dataset: str, task: str, n_out: int
) -> None:
    """A path keeps what it derives from a fold's rows with the fold (``Fold.derived``): a
    second path on the same folds, other knobs, solves from it exactly as on folds just made."""
    kept, fresh = _splits(dataset, folds=3), _splits(dataset, folds=3)
    lambdas = lambda_grid(1e-3, 1.0, 5, offset=0.2)
    train_path(_config(task, n_out, l1_ratio=0.9), kept.folds, lambdas)
    derived = [dict(fold.derived) for fold in kept.folds]
    assert all(derived)  # made by the first path
    again = train_path(_config(task, n_out, l1_ratio=0.3, dropout=0.1), kept.folds, lambdas)
    assert [dict(fold.derived) for fold in kept.folds] == derived  # the same objects, kept
    first = train_path(_config(task, n_out, l1_ratio=0.3, dropout=0.1), fresh.folds, lambdas)
    for mine, theirs in zip(again, first, strict=True):
        assert mine.result.value == theirs.result.value
        for a, b in zip(mine.result.states, theirs.result.states, strict=True):
            assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)


def _one_hot_regression() -> Splits:
    """Three numbers and two one-hot columns (three levels each, as an upload encodes them): a
    lasso path's screening at λ's first point leaves out a level the minimizer lets in."""
    rng = np.random.default_rng(11)
    n = 240
    x1, x2, x3 = rng.normal(5, 2, n), rng.uniform(0, 10, n), rng.normal(0, 1, n)
    city, size = rng.choice(3, n, p=[0.5, 0.3, 0.2]), rng.choice(3, n)
    y = 2 * x1 - 0.5 * x2 + np.array([3.0, -1.0, 0.5])[city] + rng.normal(0, 1.5, n)
    X = np.column_stack([x1, x2, x3, np.eye(3)[city], np.eye(3)[size]])
    data = Dataset(X, y, "regression", [f"x{i}" for i in range(X.shape[1])])
    return make_splits(data, test_fraction=0.0, holdout=None, folds=5, seed=0)


@pytest.mark.parametrize("lam", [0.0021, 0.0038, 0.0071, 0.013])
def test_a_feature_the_screening_left_out_enters_before_the_point_is_converged(
    lam: float,
) -> None:
    """The solve over the screened features converged, a left-out feature broke the KKT
    condition and was added, and the point was kept as converged without solving again: its
    fold values were a minimizer's over the screened features only (2.3003 against 2.3012 on
    the upload this mirrors), and that wrong value was the study's best trial."""
    splits = _one_hot_regression()
    config = _config("regression", 1, l1_ratio=1.0, lam=lam)
    (point,) = train_path(config, splits.folds, [lam])
    cold = train_exact(config, splits.folds)
    assert point.result.converged and cold.converged
    for mine, theirs in zip(point.result.states, cold.states, strict=True):
        np.testing.assert_allclose(mine.weight, theirs.weight, rtol=0, atol=1e-6)
    assert math.isclose(point.result.value, cold.value, rel_tol=1e-6)
