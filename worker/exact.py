"""The exact trainer for ``model.kind: linear``: each fold solved to a tolerance by
``worker.solver``, with the same contract as the minibatch trainer (``worker.train.train``).

The validation metric is reported every ``report_every`` solver iterations: that block is the
"epoch" the hook, the learning curve and the pruner see, so pruning still applies. Folds advance
in lockstep, as in ``train``. What differs, by design:

* no early stopping: the answer is the minimizer itself (the same as scikit-learn's), so
  ``best_epoch`` is the last one and the refit needs no epoch count, only the solve again;
* the budget is ``max_iter`` solver iterations per fold, not ``max_epochs``;
* dropout and Gaussian noise of the inputs are marginalized: their expected effect is added as
  a per-feature ridge (``input_dropout_l2``, ``input_noise_l2``), since a deterministic solver
  draws no masks and no noise.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, assert_never

import numpy as np
import torch
from torch import nn

from worker.data import Fold
from worker.evaluation import evaluate
from worker.models import build_model, count_nonzero
from worker.solver import Fista, LinearState, Task, threads_for
from worker.train import EpochHook, TrainConfig, TrainResult, train

Solver = Literal["exact", "minibatch"]


@dataclass(frozen=True)
class ExactOptions:
    """How far to solve and how often to report.

    ``tol`` bounds the norm of the objective's minimal subgradient (``worker.solver``): at 1e-6
    the validation loss is within 3e-5 (relative) of the exact minimizer's on iris, breast
    cancer and diabetes. ``report_every`` = K iterations per reported "epoch": an iteration
    costs ~0.1 ms, a report through the service a few ms (a database write and read), so a
    smaller K makes the reports, not the solve, the trial's cost."""

    tol: float = 1e-6
    max_iter: int = 10_000
    report_every: int = 25

    def __post_init__(self) -> None:
        if not self.tol > 0:
            raise ValueError(f"tol must be > 0, got {self.tol=}")
        if self.max_iter < 1:
            raise ValueError(f"max_iter must be ≥ 1, got {self.max_iter=}")
        if self.report_every < 1:
            raise ValueError(f"report_every must be ≥ 1, got {self.report_every=}")


@dataclass
class ExactResult(TrainResult):
    states: list[LinearState] = field(default_factory=list)
    """Each fold's solution in float64: the warm start of a neighbouring trial."""
    iterations: list[int] = field(default_factory=list)
    """Solver iterations per fold."""
    converged: bool = False
    """Every fold met the tolerance (False when pruned or out of ``max_iter``)."""


def input_dropout_l2(X: np.ndarray, *, task: str, n_out: int, dropout: float) -> np.ndarray:
    """The ridge coefficient per input that inverted dropout of rate p adds in expectation.

    Dropping x_j with probability p and scaling by 1/(1 − p) leaves the mean and adds variance
    p/(1 − p)·x_j². For ½·MSE that adds exactly ½ · Σ_j p/(1 − p) · mean(x_j²) · w_j². For the
    cross-entropy it is the quadratic approximation of Wager, Wang & Liang (2013), with the
    loss's curvature taken at uniform predictions, (1/K)(1 − 1/K): ¼ for a binary task."""
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout=}")
    second_moment = np.mean(np.asarray(X, dtype=np.float64) ** 2, axis=0)
    classes = 1 if task == "regression" else max(2, n_out)
    curvature = 1.0 if task == "regression" else (1 / classes) * (1 - 1 / classes)
    return dropout / (1 - dropout) * curvature * second_moment


def input_noise_l2(n_in: int, *, task: str, n_out: int, std: float) -> np.ndarray:
    """The ridge coefficient per input that Gaussian input noise of standard deviation σ adds in
    expectation: exactly σ² for ½·MSE (E[(y − (x + ε)·w)²] = (y − x·w)² + σ²·|w|²), and the
    same quadratic approximation as ``input_dropout_l2`` for the cross-entropy."""
    if not std >= 0:
        raise ValueError(f"input noise std must be ≥ 0, got {std=}")
    classes = 1 if task == "regression" else max(2, n_out)
    curvature = 1.0 if task == "regression" else (1 / classes) * (1 - 1 / classes)
    return np.full(n_in, std**2 * curvature)


class _Member:
    """One fold: its solver, and a float32 ``nn`` model mirroring the solver's parameters."""

    def __init__(self, config: TrainConfig, fold: Fold, warm_start: LinearState | None) -> None:
        self.fold = fold
        n_in = fold.X_train.shape[1]
        input_l2 = None
        if config.dropout > 0:
            input_l2 = input_dropout_l2(
                fold.X_train, task=config.task, n_out=config.n_out, dropout=config.dropout
            )
        if config.input_noise > 0:
            noise_l2 = input_noise_l2(
                n_in, task=config.task, n_out=config.n_out, std=config.input_noise
            )
            input_l2 = noise_l2 if input_l2 is None else input_l2 + noise_l2
        self.solver = Fista(
            fold.X_train,
            fold.y_train,
            task=_task(config.task),
            lam=config.lam,
            l1_ratio=config.l1_ratio,
            n_classes=config.n_out if config.task == "multiclass" else None,
            input_l2=input_l2,
            warm_start=warm_start,
        )
        self.model = build_model(
            "linear",
            n_in=n_in,
            n_out=config.n_out,
            hidden_layers=[],
            batch_norm=False,
            dropout=config.dropout,
        )
        self.X_val = torch.from_numpy(fold.X_val)

    @torch.no_grad()
    def sync(self) -> None:
        state = self.solver.state()
        layer = self.model[1]
        assert isinstance(layer, nn.Linear)
        layer.weight.copy_(state.weight)
        layer.bias.copy_(state.bias)

    def validate(self, task: str) -> dict[str, float]:
        return evaluate(self.model, self.X_val, self.fold.y_val, task, self.fold.scaler)

    def test(self, task: str) -> dict[str, float]:
        X_test = torch.from_numpy(self.fold.X_test)
        return evaluate(self.model, X_test, self.fold.y_test, task, self.fold.scaler)


def _task(name: str) -> Task:
    match name:
        case "regression" | "binary" | "multiclass":
            return name
    raise ValueError(f"task must be regression, binary or multiclass, got {name=}")


def _mean(metrics: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([m[k] for m in metrics])) for k in metrics[0]}


def _solve(
    members: list[_Member], config: TrainConfig, on_epoch: EpochHook | None, options: ExactOptions
) -> tuple[int, list[float], bool]:
    """Advance the folds in lockstep, K iterations an epoch, reporting each → (epochs run,
    learning curve, pruned). Without a hook nobody sees the epochs: no evaluation between."""
    if on_epoch is None:
        for member in members:
            member.solver.run(options.max_iter, tol=options.tol)
        iterations = max(m.solver.iterations for m in members)
        return math.ceil(iterations / options.report_every), [], False
    curve: list[float] = []
    epoch = 0
    while True:
        for member in members:
            budget = options.max_iter - member.solver.iterations
            member.solver.run(min(options.report_every, budget), tol=options.tol)
            member.sync()
        epoch += 1
        metrics = _mean([m.validate(config.task) for m in members])
        curve.append(metrics[config.metric])
        if not math.isfinite(metrics["val_loss"]):
            return epoch, curve, False
        if on_epoch(epoch, metrics):
            return epoch, curve, True
        if all(m.solver.converged or m.solver.iterations >= options.max_iter for m in members):
            return epoch, curve, False


def train_exact(
    config: TrainConfig,
    folds: list[Fold],
    on_epoch: EpochHook | None = None,
    *,
    options: ExactOptions | None = None,
    warm_start: Sequence[LinearState] | None = None,
) -> ExactResult:
    """Solve every fold to ``options.tol``; report the mean validation metric over folds every
    ``options.report_every`` iterations (the hook returning True prunes). ``warm_start``: one
    state per fold, e.g. the ``states`` of the finished trial nearest in (λ, ρ)."""
    if config.model_kind != "linear":
        raise ValueError(f"the exact solver trains linear models, got {config.model_kind=}")
    options = options or ExactOptions()
    if warm_start is not None and len(warm_start) != len(folds):
        raise ValueError(f"warm_start needs one state per fold, got {len(warm_start)=}")
    starts = list(warm_start) if warm_start is not None else [None] * len(folds)
    started = time.perf_counter()
    members = [_Member(config, fold, start) for fold, start in zip(folds, starts, strict=True)]
    with threads_for(sum(fold.X_train.size for fold in folds)):
        epochs, curve, pruned = _solve(members, config, on_epoch, options)
        for member in members:
            member.sync()
        metrics = _mean([m.validate(config.task) for m in members])
        test_metrics = _mean([m.test(config.task) for m in members])
    seconds = time.perf_counter() - started
    value = metrics[config.metric]
    if on_epoch is None:
        curve = [value]
    nonzero = [count_nonzero(m.model) for m in members]
    worst = -math.inf if config.direction == "maximize" else math.inf
    return ExactResult(
        models=[m.model for m in members],
        value=value if math.isfinite(value) else worst,
        val_metrics=metrics,
        test_metrics=test_metrics,
        epochs_run=epochs,
        best_epoch=epochs,
        n_nonzero=int(np.mean([nz for nz, _ in nonzero])),
        n_weights=nonzero[0][1],
        train_seconds=seconds,
        pruned=pruned,
        diverged=not math.isfinite(metrics["val_loss"]),
        curve=curve,
        states=[m.solver.state() for m in members],
        iterations=[m.solver.iterations for m in members],
        converged=all(m.solver.converged for m in members),
    )


def fit(
    config: TrainConfig,
    folds: list[Fold],
    on_epoch: EpochHook | None = None,
    *,
    solver: Solver,
    options: ExactOptions | None = None,
    warm_start: Sequence[LinearState] | None = None,
) -> TrainResult:
    """The trainer a definition asks for (``training.solver``), for trials, the best model's
    retraining and the refit alike, so that all three train the same way."""
    match solver:
        case "exact":
            return train_exact(config, folds, on_epoch, options=options, warm_start=warm_start)
        case "minibatch":
            return train(config, folds, on_epoch)
        case _:
            assert_never(solver)


class WarmStarts:
    """Finished solutions of one study's folds by (λ, ρ): a new trial starts from the nearest,
    measured in (log₁₀ λ, ρ). Only valid for the same folds and task (one instance per study)."""

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._solutions: dict[tuple[float, float], list[LinearState]] = {}

    def __len__(self) -> int:
        return len(self._solutions)

    def add(self, lam: float, l1_ratio: float, states: Sequence[LinearState]) -> None:
        if len(self._solutions) >= self.capacity:
            del self._solutions[next(iter(self._solutions))]  # the oldest
        self._solutions[(lam, l1_ratio)] = list(states)

    def nearest(self, lam: float, l1_ratio: float) -> list[LinearState] | None:
        if not self._solutions:
            return None
        key = min(
            self._solutions,
            key=lambda k: (
                math.log10(max(k[0], 1e-300) / max(lam, 1e-300)) ** 2 + (k[1] - l1_ratio) ** 2
            ),
        )
        return self._solutions[key]
