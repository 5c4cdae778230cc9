"""The exact trainer for ``model.kind: linear``: each fold solved to a tolerance by FISTA
(``regtune.worker.trainers.fista``), with the same contract as the minibatch trainer.

The validation metric is reported every ``report_every`` solver iterations: that block is the
"epoch" the hook, the learning curve and the pruner see, so pruning still applies. Folds advance
in lockstep, as in the minibatch trainer. What differs, by design:

* no early stopping: the answer is the minimizer itself (the same as scikit-learn's), so
  ``best_epoch`` is the last one and the refit needs no epoch count, only the solve again;
* the budget is ``max_iter`` solver iterations per fold, not ``max_epochs``;
* dropout and Gaussian noise of the inputs are marginalized: their expected effect is added as
  a per-feature ridge (``input_dropout_l2``, ``input_noise_l2``), since a deterministic solver
  draws no masks and no noise;
* a regression's ``relax`` moves each fold's solution towards the least squares on its support
  once solved (``regtune.worker.trainers.relax``): the learning curve is the elastic net's
  solve, the final metrics are the relaxed model's. ``states`` stay the elastic net's solutions,
  the warm start of a neighbouring trial.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np
import torch

from regtune.worker.data import Fold
from regtune.worker.evaluation import score_folds
from regtune.worker.models import build_model, set_linear
from regtune.worker.trainers.config import EpochHook, StopCheck, TrainConfig
from regtune.worker.trainers.fista import (
    Fista,
    LinearState,
    Task,
    _LeastSquares,
    per_fold,
    threads_for,
)
from regtune.worker.trainers.moments import FoldMoments
from regtune.worker.trainers.relax import relaxed
from regtune.worker.trainers.result import TrainResult, build_result


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
        if config.task == "regression":  # from the fold's kept moments (``FoldMoments``)
            self.solver = _least_squares(config, fold, input_l2, warm_start)
        else:
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

    def sync(self) -> None:
        state = self.solver.state()
        set_linear(self.model, state.weight, state.bias)

    def relax(self, share: float, ridge: float) -> None:
        """Set the model to the relaxed fit of the solver's solution (least squares), from the
        solver's own centered Gram matrix, less λ's ridge part ``ridge``: the inputs' fixed L2
        stays in it."""
        smooth = self.solver.smooth
        assert isinstance(smooth, _LeastSquares), "relax applies to least squares"
        d = smooth.hessian.shape[0]
        gram = (smooth.hessian - ridge * torch.eye(d, dtype=smooth.hessian.dtype)).numpy()
        weight = self.solver.state().weight.detach().double().numpy().reshape(-1)
        weight = relaxed(gram, smooth.cross[0].numpy(), weight, np.zeros(d), share)
        bias = np.array([float(smooth.y_mean) - weight @ smooth.x_mean.numpy()])
        set_linear(self.model, torch.from_numpy(weight), torch.from_numpy(bias))


def _least_squares(
    config: TrainConfig, fold: Fold, input_l2: np.ndarray | None, warm_start: LinearState | None
) -> Fista:
    """``Fista`` on the fold's least squares, as ``Fista(fold.X_train, fold.y_train, ...)``
    builds it, from the fold's moments made once (``FoldMoments``) instead of its rows."""
    n, d = fold.X_train.shape
    l2 = torch.full((d,), config.lam * (1 - config.l1_ratio), dtype=torch.float64)
    if input_l2 is not None:
        l2 = l2 + torch.from_numpy(np.asarray(input_l2)).double()
    smooth = FoldMoments.of(fold).least_squares(l2)
    start = torch.zeros(1, d, dtype=torch.float64)
    if warm_start is not None:
        start = warm_start.weight.detach().double().reshape(1, d)
    return Fista.on(smooth, start, l1=config.lam * config.l1_ratio, n_features=d, n_entries=n * d)


def _task(name: str) -> Task:
    match name:
        case "regression" | "binary" | "multiclass":
            return name
    raise ValueError(f"task must be regression, binary or multiclass, got {name=}")


def _solve(
    members: list[_Member],
    folds: list[Fold],
    config: TrainConfig,
    on_epoch: EpochHook | None,
    stop: StopCheck | None,
) -> tuple[int, list[float] | None, bool]:
    """Advance the folds in lockstep, K iterations an epoch, reporting each → (epochs run,
    learning curve, pruned). Without a hook nobody sees the epochs: no evaluation between.
    ``stop`` is checked before every iteration."""
    options = config.exact
    if on_epoch is None:
        for member in members:
            member.solver.run(options.max_iter, tol=options.tol, stop=stop)
        iterations = max(m.solver.iterations for m in members)
        return math.ceil(iterations / options.report_every), None, False
    curve: list[float] = []
    epoch = 0
    while True:
        for member in members:
            budget = options.max_iter - member.solver.iterations
            member.solver.run(min(options.report_every, budget), tol=options.tol, stop=stop)
            member.sync()
        epoch += 1
        metrics = score_folds([m.model for m in members], folds, "val", config.task)
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
    warm_start: Sequence[LinearState] | None = None,
    stop: StopCheck | None = None,
) -> TrainResult:
    """Solve every fold to ``config.exact.tol``; report the mean validation metric over folds
    every ``config.exact.report_every`` iterations (the hook returning True prunes).
    ``warm_start``: one state per fold, e.g. the ``states`` of the finished trial nearest in
    (λ, ρ). ``stop`` is called before every solver iteration and raises to abandon the
    training."""
    if config.model_kind != "linear":
        raise ValueError(f"the exact solver trains linear models, got {config.model_kind=}")
    if config.relax > 0 and config.task != "regression":
        raise ValueError(f"relax applies to least squares, got {config.task=}")
    starts = per_fold(warm_start, len(folds))
    started = time.perf_counter()
    members = [_Member(config, fold, start) for fold, start in zip(folds, starts, strict=True)]
    with threads_for(sum(fold.X_train.size for fold in folds)):
        epochs, curve, pruned = _solve(members, folds, config, on_epoch, stop)
        for member in members:
            member.sync()
            if config.relax > 0:
                member.relax(config.relax, ridge=config.lam * (1 - config.l1_ratio))
        return build_result(
            config,
            [m.model for m in members],
            folds,
            started=started,
            epochs_run=epochs,
            best_epoch=epochs,
            curve=curve,
            pruned=pruned,
            states=[m.solver.state() for m in members],
            iterations=[m.solver.iterations for m in members],
            converged=all(m.solver.converged for m in members),
        )


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
