"""A λ path sees a stop (SIGTERM, a cancel, a lost lease) at every point, whichever solve serves
it, and between the folds of its setup. It was seen only before a FISTA iteration: a point the
exact solve on the support served (every fold together, or each alone), which on a fine grid is
most of them, never looked, so a stopped worker ran its whole path and wrote it."""

from __future__ import annotations

from typing import Any

import pytest

from regtune.worker.data import Splits, load, make_splits, stoppable_setup
from regtune.worker.paths import lambda_grid
from regtune.worker.trainers import path
from regtune.worker.trainers.config import ExactOptions, TrainConfig
from regtune.worker.trainers.moments import FoldMoments
from regtune.worker.trainers.path import largest_gradient, train_path

LAMBDAS = lambda_grid(1e-3, 1.0, 30, offset=0.3)
"""Fine enough that the exact solve on the support serves every point of every route."""
ROUTES = [  # (data, task, n_out, l1_ratio)
    # ≤ 64 features: every fold's exact solve at once (``_SupportsTogether``)
    ({"builtin": "diabetes"}, "regression", 1, 0.9),
    # more: each fold's exact solve on its support alone
    (
        {
            "synthetic": {
                "kind": "sparse_regression",
                "n_samples": 300,
                "n_features": 80,
                "n_informative": 5,
                "noise": 1.0,
                "seed": 0,
            }
        },
        "regression",
        1,
        0.9,
    ),
    # the cross-entropy: Newton's method on the support
    ({"builtin": "breast_cancer"}, "binary", 1, 0.9),
]


class Stopped(Exception):
    pass


class StopOnCall:
    """A stop check that raises from its ``n``-th call on (never: ``n`` 0), counting calls."""

    def __init__(self, n: int = 0) -> None:
        self.n, self.calls = n, 0

    def __call__(self) -> None:
        self.calls += 1
        if self.n and self.calls >= self.n:
            raise Stopped()


def _splits(data: dict[str, Any]) -> Splits:
    return make_splits(load(data), test_fraction=0.2, holdout=None, folds=3, seed=0)


def _config(task: str, n_out: int, l1_ratio: float) -> TrainConfig:
    return TrainConfig(
        task=task,
        n_out=n_out,
        model_kind="linear",
        solver="exact",
        l1_ratio=l1_ratio,
        exact=ExactOptions(tol=1e-6, max_iter=10_000),
    )


@pytest.mark.parametrize(("data", "task", "n_out", "l1_ratio"), ROUTES)
def test_a_path_checks_for_a_stop_at_every_fold_and_point_whatever_solves_it(
    data: dict[str, Any], task: str, n_out: int, l1_ratio: float
) -> None:
    splits = _splits(data)
    check = StopOnCall()
    points = train_path(_config(task, n_out, l1_ratio), splits.folds, LAMBDAS, stop=check)
    assert [p.lam for p in points] == LAMBDAS  # no stop: the whole path
    # each fold's setup, each point, and once more before the points are scored
    assert check.calls >= len(splits.folds) + len(LAMBDAS) + 1


@pytest.mark.parametrize(("data", "task", "n_out", "l1_ratio"), ROUTES)
def test_a_stop_ends_a_path_at_the_next_point_with_no_points(
    data: dict[str, Any], task: str, n_out: int, l1_ratio: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop asked for once 3 points are solved ends the path before the 4th (without a look
    at every point, the path ran to its end and saw the stop only then)."""
    splits = _splits(data)
    solve = path._Solved.of
    solved: list[float] = []

    def point(*args: Any, **kwargs: Any) -> Any:
        solved.append(args[1])  # its λ
        return solve(*args, **kwargs)

    def check() -> None:
        if len(solved) >= 3:
            raise Stopped()

    monkeypatch.setattr(path._Solved, "of", point)
    with pytest.raises(Stopped):
        train_path(_config(task, n_out, l1_ratio), splits.folds, LAMBDAS, stop=check)
    assert solved == LAMBDAS[:3]


def test_a_stop_before_the_path_begins_makes_no_fold_s_gram_matrix() -> None:
    splits = _splits({"builtin": "diabetes"})
    with pytest.raises(Stopped):
        train_path(_config("regression", 1, 1.0), splits.folds, LAMBDAS, stop=StopOnCall(1))
    assert not any(FoldMoments.KEY in fold.derived for fold in splits.folds)


def test_a_claim_s_setup_sees_a_stop_between_folds() -> None:
    """``stoppable_setup`` (the worker's, around building a claim's objective): the splits and
    the path's pass over the folds look between folds; outside it nothing is asked."""
    data = load({"builtin": "diabetes"})
    check = StopOnCall(2)
    with stoppable_setup(check), pytest.raises(Stopped):
        make_splits(data, test_fraction=0.2, holdout=None, folds=3, seed=0)
    assert check.calls == 2  # the second fold was not made
    splits = make_splits(data, test_fraction=0.2, holdout=None, folds=3, seed=0)
    assert check.calls == 2
    with stoppable_setup(check), pytest.raises(Stopped):
        largest_gradient(splits.folds, task="regression", n_out=1)
    assert check.calls == 3
