"""Fused training: members of one structure trained in one pass as a stacked model, each with its
own metrics, early stopping and pruning.

A member sees what ``regtune.worker.trainers.minibatch`` would show it alone: the same initial
weights (one ``torch.manual_seed``), the same batches (one generator for the batch order, shared),
the same epoch metrics and stopping rule. Input noise and dropout masks come from each member's own
generators (``regtune.worker.trainers.draws``), so a member trains the same whichever members it is
stacked with; with both off its weights equal its training alone (to float rounding). A member that
is pruned, stops early or diverges is scored and handed over at once (``on_done``), and leaves the
stack; the others go on.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from regtune.service.spec.objective import better
from regtune.worker.data import Fold
from regtune.worker.evaluation import mean_of, metrics_of, rows_of
from regtune.worker.models import build_model
from regtune.worker.trainers.config import StopCheck, TrainConfig
from regtune.worker.trainers.draws import MemberDraws
from regtune.worker.trainers.minibatch import batches
from regtune.worker.trainers.result import TrainResult, build_result
from regtune.worker.trainers.stacked import Knobs, StackedMLP

MemberEpochHook = Callable[[int, int, dict[str, float]], bool]
"""(member, epoch, its validation metrics) → True to prune that member."""
MemberDone = Callable[[int, TrainResult], None]
"""(member, its result): called as soon as a member's training ends."""


def structure(config: TrainConfig) -> TrainConfig:
    """What members must share to be stacked: the config with the per-member knobs blanked."""
    return dataclasses.replace(
        config,
        lam=0.0,
        l1_ratio=0.0,
        dropout=0.0,
        input_noise=0.0,
        layer_penalty=0.0,
        learning_rate=0.0,
    )


def groups(configs: Sequence[TrainConfig]) -> list[list[int]]:
    """Indices of ``configs`` by structure, in order of first appearance."""
    found: dict[TrainConfig, list[int]] = {}
    for i, config in enumerate(configs):
        found.setdefault(structure(config), []).append(i)
    return list(found.values())


@dataclass
class _Progress:
    """One member's early-stopping state (as ``train_minibatch`` keeps it for one model)."""

    config: TrainConfig
    best_value: float
    best_epoch: int = 0
    waited: int = 0
    curve: list[float] = field(default_factory=list)
    best: list[list[torch.Tensor]] | None = None
    """Per fold: the member's weights at its best epoch (``restore_best``)."""


def train_fused(
    configs: Sequence[TrainConfig],
    folds: list[Fold],
    on_epoch: MemberEpochHook | None = None,
    on_done: MemberDone | None = None,
    *,
    stop: StopCheck | None = None,
) -> list[TrainResult]:
    """Train MLP ``configs`` of one structure together, one stacked model per fold; return each
    member's result (also handed to ``on_done`` the moment that member ends)."""
    if not configs or any(structure(c) != structure(configs[0]) for c in configs):
        raise ValueError(
            "fused members must share one structure (see regtune.worker.trainers.fused)"
        )
    shared = configs[0]
    if shared.model_kind != "mlp":
        raise ValueError(f"fused training stacks MLPs, got {shared.model_kind=}")
    torch.manual_seed(shared.seed)
    order = torch.Generator().manual_seed(shared.seed)
    draws = MemberDraws(shared.seed, len(configs))
    n_in = folds[0].X_train.shape[1]
    stacks = [StackedMLP(_template(shared, n_in), len(configs), shared) for _ in folds]
    data = [(torch.from_numpy(f.X_train), torch.from_numpy(f.y_train)) for f in folds]
    knobs = Knobs.of(configs)
    worst = -math.inf if shared.direction == "maximize" else math.inf
    alive = list(range(len(configs)))
    progress = [_Progress(c, worst) for c in configs]
    results: dict[int, TrainResult] = {}
    started = time.perf_counter()

    def finish(position: int, epoch: int, ended: str | None = None) -> None:
        member, state = alive[position], progress[alive[position]]
        models = []
        for f, stack in enumerate(stacks):
            model = stack.member(position, state.config, n_in)
            if state.best is not None:
                stack.load_into(model, state.best[f])
            models.append(model)
        results[member] = build_result(
            state.config,
            models,
            folds,
            started=started,
            epochs_run=epoch,
            best_epoch=state.best_epoch,
            curve=state.curve,
            pruned=ended == "pruned",
            stopped_early=ended == "stopped_early",
            diverged=ended == "diverged",
            fused=True,
        )
        if on_done is not None:
            on_done(member, results[member])

    for epoch in range(1, shared.max_epochs + 1):
        for stack, (X, y) in zip(stacks, data, strict=True):
            _epoch(stack, X, y, shared, knobs, (order, draws), stop)
        per_member = _scores(stacks, folds, shared.task)
        leaving: list[int] = []
        for position, metrics in enumerate(per_member):
            ended = _account(progress[alive[position]], stacks, position, epoch, metrics)
            if ended is None and on_epoch is not None and on_epoch(alive[position], epoch, metrics):
                ended = "pruned"
            if ended is None and _patience_out(progress[alive[position]], epoch):
                ended = "stopped_early"
            if ended is not None:
                finish(position, epoch, ended)
                leaving.append(position)
        if leaving:
            kept = [p for p in range(len(alive)) if p not in leaving]
            alive = [alive[p] for p in kept]
            if not alive:
                break
            index = torch.tensor(kept)
            for stack in stacks:
                stack.keep(index)
            knobs = knobs.take(index)
            draws.keep(kept)
    for position in range(len(alive)):
        finish(position, shared.max_epochs)
    return [results[i] for i in range(len(configs))]


def _template(config: TrainConfig, n_in: int) -> torch.nn.Sequential:
    """The model the minibatch trainer would build next from the global seed."""
    return build_model(
        "mlp",
        n_in=n_in,
        n_out=config.n_out,
        hidden_layers=list(config.hidden_layers),
        batch_norm=config.batch_norm,
        dropout=0.0,
    )


def _epoch(
    stack: StackedMLP,
    X: torch.Tensor,
    y: torch.Tensor,
    config: TrainConfig,
    knobs: Knobs,
    generators: tuple[torch.Generator, MemberDraws],
    stop: StopCheck | None,
) -> None:
    """One pass over one fold's training rows, every member on the same batches, each with its
    own noise and dropout masks."""
    order, draws = generators
    noisy = bool((knobs.input_noise > 0).any())
    drops = knobs.dropout if bool((knobs.dropout > 0).any()) else None
    params = stack.parameters()
    for idx in batches(len(y), config, order, stop):
        inputs = X[idx]
        if noisy:
            inputs = draws.noisy(inputs, knobs.input_noise)
        out = stack.forward(inputs, train=True, dropout=drops, draws=draws)
        grads = torch.autograd.grad(stack.loss(out, y[idx], knobs), params)
        stack.step(grads, knobs)


@torch.no_grad()
def _scores(
    stacks: Sequence[StackedMLP], folds: Sequence[Fold], task: str
) -> list[dict[str, float]]:
    """Each member's validation metrics, averaged over folds (one stacked pass per fold)."""
    outputs = [
        stack.forward(torch.from_numpy(fold.X_val), train=False)
        for stack, fold in zip(stacks, folds, strict=True)
    ]
    return [
        mean_of(
            "val",
            [
                metrics_of(out[k], fold.y_val, task, fold.scaler)
                for out, fold in zip(outputs, folds, strict=True)
            ],
            rows=rows_of(folds, "val"),
        )
        for k in range(stacks[0].members)
    ]


def _account(
    state: _Progress,
    stacks: Sequence[StackedMLP],
    position: int,
    epoch: int,
    metrics: dict[str, float],
) -> str | None:
    """Record an epoch's value; "diverged" if the member's loss is no longer finite."""
    config = state.config
    value = metrics[config.metric]
    state.curve.append(value)
    if not math.isfinite(metrics["val_loss"]):
        return "diverged"  # not reported (no NaN to Optuna): its trial's diverged_epoch
    min_delta = config.early_stopping.min_delta if config.early_stopping else 0.0
    if better(value, state.best_value, direction=config.direction, min_delta=min_delta) or (
        state.best_epoch == 0
    ):
        state.best_value, state.best_epoch, state.waited = value, epoch, 0
        if config.early_stopping and config.early_stopping.restore_best:
            state.best = [stack.snapshot(position) for stack in stacks]
    else:
        state.waited += 1
    return None


def _patience_out(state: _Progress, epoch: int) -> bool:
    """Early stopping ends the member at ``epoch``: its patience ran out before its last epoch
    (a member that ran every epoch ended, it did not stop early)."""
    stop = state.config.early_stopping
    return stop is not None and state.waited >= stop.patience and epoch < state.config.max_epochs
