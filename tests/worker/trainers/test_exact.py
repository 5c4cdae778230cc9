"""The exact trainer: the minibatch trainer's contract, scikit-learn's coefficients (as the
fixed point it certifies within a few iterations), pruning."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
import optuna
import pytest
import torch
from sklearn.linear_model import ElasticNet, LogisticRegression

from regtune.worker.data import Splits, load, make_splits
from regtune.worker.trainers import fit
from regtune.worker.trainers.config import ExactOptions, TrainConfig
from regtune.worker.trainers.exact import WarmStarts, input_dropout_l2, train_exact
from regtune.worker.trainers.fista import Fista, LinearState
from regtune.worker.trainers.moments import FoldMoments
from regtune.worker.trainers.result import TrainResult

FEW = 50
"""Iterations a fold started at its optimum may take to certify it."""


def _splits(name: str, *, folds: int | None = None) -> Splits:
    holdout = None if folds else 0.2
    return make_splits(
        load({"builtin": name}), test_fraction=0.2, holdout=holdout, folds=folds, seed=0
    )


def _config(task: str, n_out: int, **overrides: Any) -> TrainConfig:
    base: dict[str, Any] = {"task": task, "n_out": n_out, "model_kind": "linear", "solver": "exact"}
    return TrainConfig(**(base | overrides))


def _state(reference: Any) -> LinearState:
    weight, bias = np.atleast_2d(reference.coef_), np.atleast_1d(reference.intercept_)
    return LinearState(torch.from_numpy(weight.copy()), torch.from_numpy(bias.astype(np.float64)))


def _weights(model: torch.nn.Module) -> tuple[np.ndarray, np.ndarray]:
    assert isinstance(model, torch.nn.Sequential)
    layer = model[1]
    assert isinstance(layer, torch.nn.Linear)
    return layer.weight.detach().double().numpy(), layer.bias.detach().double().numpy()


def test_each_fold_gets_scikit_learns_elastic_net() -> None:
    splits = _splits("diabetes", folds=3)
    references = [
        ElasticNet(alpha=0.01, l1_ratio=0.6, tol=1e-12, max_iter=1_000_000).fit(
            fold.X_train.astype(np.float64), fold.y_train.astype(np.float64)
        )
        for fold in splits.folds
    ]
    options = ExactOptions(tol=1e-8, max_iter=FEW)
    config = _config("regression", 1, lam=0.01, l1_ratio=0.6, exact=options)
    result = train_exact(config, splits.folds, warm_start=[_state(r) for r in references])
    assert isinstance(result, TrainResult) and result.converged and len(result.models) == 3
    for model, reference in zip(result.models, references, strict=True):
        weight, bias = _weights(model)
        np.testing.assert_allclose(weight.ravel(), reference.coef_, atol=1e-4)
        np.testing.assert_allclose(bias, [reference.intercept_], atol=1e-4)
        assert np.array_equal(weight.ravel() == 0, reference.coef_ == 0)
    nonzero = np.mean([int((_weights(m)[0] != 0).sum()) for m in result.models])
    assert result.n_nonzero == pytest.approx(nonzero) and result.n_weights == 10
    # the trial's value is the final model's; without a hook no epoch is evaluated but the last
    assert result.value == result.val_metrics["val_loss"] and result.curve == [result.value]
    assert len(result.fold_values) == 3  # each fold's value, for the report's ± 1 SE
    assert np.isclose(np.mean(result.fold_values), result.value)
    epochs = -(-max(result.iterations) // options.report_every)  # ceil
    assert result.best_epoch == result.epochs_run == epochs


def test_multiclass_trial_matches_multinomial_logistic_regression() -> None:
    splits = _splits("iris")
    lam, fold = 0.01, splits.folds[0]
    X, y = fold.X_train.astype(np.float64), fold.y_train
    reference = LogisticRegression(C=1 / (lam * len(y)), tol=1e-10, max_iter=100_000).fit(X, y)
    config = _config("multiclass", 3, lam=lam, l1_ratio=0.0, exact=ExactOptions(tol=1e-8))
    result = train_exact(config, splits.folds, warm_start=[_state(reference)])
    assert result.converged and max(result.iterations) <= FEW
    weight, _ = _weights(result.models[0])
    np.testing.assert_allclose(weight, reference.coef_, atol=1e-4)
    assert result.val_metrics["val_accuracy"] == pytest.approx(
        reference.score(fold.X_val.astype(np.float64), fold.y_val)
    )
    assert set(result.test_metrics) == {"test_loss", "test_accuracy"}


def test_the_metric_is_reported_every_k_iterations_and_a_prune_stops() -> None:
    splits = _splits("breast_cancer", folds=2)
    options = ExactOptions(tol=1e-5, report_every=5)
    config = _config(
        "binary", 1, lam=1e-3, l1_ratio=0.5, metric="val_auc", direction="maximize", exact=options
    )
    steps: list[int] = []

    def record(epoch: int, metrics: dict[str, float]) -> bool:
        steps.append(epoch)
        return False

    full = train_exact(config, splits.folds, record)
    assert full.converged and steps == list(range(1, full.epochs_run + 1))
    assert len(full.curve) == full.epochs_run and full.curve[-1] == full.value
    assert max(full.iterations) > 5 * (full.epochs_run - 1)
    assert max(full.iterations) <= 5 * full.epochs_run

    pruned = train_exact(config, splits.folds, lambda epoch, _: epoch == 3)
    assert pruned.pruned and not pruned.converged and pruned.epochs_run == 3
    assert pruned.iterations == [15, 15]


def test_pruning_works_through_optuna() -> None:
    """Trials report to Optuna every K iterations; a bad λ is pruned before it is solved."""
    splits = _splits("breast_cancer")
    options = ExactOptions(tol=1e-5, report_every=5)
    lambdas = [1e-3, 2e-3, 3e-3, 10.0]

    def objective(trial: optuna.Trial) -> float:
        lam = lambdas[trial.number]
        config = _config("binary", 1, lam=lam, l1_ratio=1.0, exact=options)

        def on_epoch(epoch: int, metrics: dict[str, float]) -> bool:
            trial.report(metrics["val_loss"], epoch)
            return trial.should_prune()

        result = train_exact(config, splits.folds, on_epoch)
        if result.pruned:
            raise optuna.TrialPruned()
        return result.value

    pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    study = optuna.create_study(pruner=pruner)
    study.optimize(objective, n_trials=len(lambdas))
    states = [t.state for t in study.trials]
    assert states[:3] == [optuna.trial.TrialState.COMPLETE] * 3
    assert states[3] == optuna.trial.TrialState.PRUNED  # λ = 10 keeps no weight at all
    first = study.trials[0]
    assert sorted(first.intermediate_values) == list(range(1, len(first.intermediate_values) + 1))
    assert first.value == first.intermediate_values[max(first.intermediate_values)]


def test_warm_start_from_the_nearest_trial_saves_iterations() -> None:
    splits = _splits("breast_cancer", folds=3)
    options = ExactOptions(tol=1e-6)
    warm_starts = WarmStarts()
    for lam, l1_ratio in [(1e-1, 0.9), (3e-3, 0.4), (1e-4, 0.1)]:
        config = _config("binary", 1, lam=lam, l1_ratio=l1_ratio, exact=options)
        warm_starts.add(lam, l1_ratio, train_exact(config, splits.folds).states)
    config = _config("binary", 1, lam=4e-3, l1_ratio=0.5, exact=options)
    nearest = warm_starts.nearest(4e-3, 0.5)
    assert nearest is not None
    cold = train_exact(config, splits.folds)
    warm = train_exact(config, splits.folds, warm_start=nearest)
    assert sum(warm.iterations) < sum(cold.iterations)
    assert warm.value == pytest.approx(cold.value, rel=1e-4)


def test_warm_starts_pick_the_nearest_in_log_lambda_and_l1_ratio() -> None:
    zero = LinearState(torch.zeros(1, 2, dtype=torch.float64), torch.zeros(1))
    warm_starts = WarmStarts(capacity=2)
    assert warm_starts.nearest(1.0, 0.5) is None
    warm_starts.add(1e-3, 0.5, [zero])
    warm_starts.add(1.0, 0.0, [zero])
    assert warm_starts.nearest(1e-3 * 1.5, 0.6) is warm_starts.nearest(1e-3, 0.5)
    warm_starts.add(10.0, 1.0, [zero])  # over capacity: the oldest goes
    assert len(warm_starts) == 2


def test_marginalized_dropout_is_the_expected_dropout_loss() -> None:
    """For ½·MSE, the per-feature ridge equals the mean loss over dropout masks."""
    rng = np.random.default_rng(0)
    X, w, p = rng.standard_normal((200, 4)), np.array([1.0, -2.0, 0.5, 0.0]), 0.3
    y = X @ w + 0.1 * rng.standard_normal(200)
    masks = rng.random((4000, *X.shape)) >= p
    dropped = np.einsum("mnd,d->mn", masks * X / (1 - p), w)
    monte_carlo = 0.5 * np.mean((y - dropped) ** 2)
    ridge = input_dropout_l2(X, task="regression", n_out=1, dropout=p)
    marginalized = 0.5 * np.mean((y - X @ w) ** 2) + 0.5 * float(ridge @ w**2)
    assert monte_carlo == pytest.approx(marginalized, rel=5e-3)


def test_dropout_shrinks_a_linear_trial_like_a_ridge() -> None:
    splits = _splits("diabetes")
    ridge: dict[str, Any] = {"lam": 1e-4, "l1_ratio": 0.0, "exact": ExactOptions(tol=1e-6)}
    plain = train_exact(_config("regression", 1, **ridge), splits.folds)
    dropped = train_exact(_config("regression", 1, dropout=0.5, **ridge), splits.folds)
    assert np.linalg.norm(_weights(dropped.models[0])[0]) < np.linalg.norm(
        _weights(plain.models[0])[0]
    )
    model = dropped.models[0]  # saved as the model it stands for
    assert isinstance(model, torch.nn.Sequential) and isinstance(model[0], torch.nn.Dropout)


def test_minibatch_only_options_are_refused() -> None:
    splits = _splits("iris")
    with pytest.raises(ValueError, match="linear models"):
        train_exact(_config("multiclass", 3, model_kind="mlp"), splits.folds)
    with pytest.raises(ValueError, match="tol must be > 0"):
        ExactOptions(tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="one state per fold"):
            train_exact(_config("multiclass", 3), splits.folds, warm_start=[])


def test_fit_dispatches_on_the_solver_name() -> None:
    splits = _splits("diabetes")
    config = _config("regression", 1, lam=0.01, l1_ratio=0.5, max_epochs=2, batch_size=None)
    exact = fit(config, splits.folds)
    minibatch = fit(dataclasses.replace(config, solver="minibatch"), splits.folds)
    assert exact.converged and exact.states and not minibatch.states
    assert minibatch.epochs_run == 2
    with pytest.raises(AssertionError):
        fit(dataclasses.replace(config, solver="newton"), splits.folds)  # type: ignore[arg-type]


def test_a_regression_trial_solves_from_its_folds_kept_moments_as_from_their_rows() -> None:
    """A fold's least squares is made once (``FoldMoments``) and every later trial on it, other
    knobs and warm start, solves the problem ``Fista`` makes from the rows, to the bit."""
    splits = _splits("diabetes", folds=3)
    config = _config("regression", 1, lam=0.05, l1_ratio=0.5, input_noise=0.1)
    first = train_exact(config, splits.folds)
    assert all(FoldMoments.KEY in fold.derived for fold in splits.folds)
    again = dataclasses.replace(config, lam=0.02, l1_ratio=0.8)
    kept = train_exact(again, splits.folds, warm_start=first.states)
    for fold, state, start in zip(splits.folds, kept.states, first.states, strict=True):
        solver = Fista(
            fold.X_train,
            fold.y_train,
            task="regression",
            lam=again.lam,
            l1_ratio=again.l1_ratio,
            input_l2=np.full(fold.X_train.shape[1], 0.1**2),
            warm_start=start,
        )
        while not solver.run(again.exact.report_every, tol=again.exact.tol):
            pass
        assert torch.equal(solver.state().weight, state.weight)
        assert torch.equal(solver.state().bias, state.bias)
