"""The minibatch trainer: the regularized objective through an optimizer, proximal L1, early
stopping.

    loss(w) = data_term + λ · ( ρ · Σ|w| + (1 − ρ)/2 · Σ w² )
    data_term = ½ · mean squared error (regression) | mean cross-entropy (classification)

The smooth part goes through the optimizer; the L1 part is applied after each step as the
proximal operator (soft-thresholding by lr·λ·ρ), which is what makes weights exactly zero.
With ``optimizer=sgd``, ``momentum=0`` and full batches this is ISTA and converges to the same
minimizer as scikit-learn: ElasticNet/Lasso ``alpha = λ``; Ridge ``alpha = λ · n_samples``;
LogisticRegression ``C = 1 / (λ · n_samples)``.

Two of the seeds' techniques act here: ``input_noise`` (Gaussian noise of that standard
deviation on the standardized inputs of every training batch: data augmentation for tables)
and ``layer_penalty`` (λ on an MLP's first layer, λ · layer_penalty on every later layer).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from regtune.service.spec.objective import better
from regtune.worker.data import Fold
from regtune.worker.evaluation import score_folds
from regtune.worker.models import build_model, set_linear, weighted_penalties
from regtune.worker.trainers.config import EpochHook, StopCheck, TrainConfig
from regtune.worker.trainers.fista import LinearState, per_fold
from regtune.worker.trainers.result import TrainResult, build_result


def data_loss(output: torch.Tensor, target: torch.Tensor, task: str) -> torch.Tensor:
    if task == "regression":
        return 0.5 * F.mse_loss(output.squeeze(-1), target)
    if task == "binary":
        return F.binary_cross_entropy_with_logits(output.squeeze(-1), target.float())
    return F.cross_entropy(output, target)


def _l2_term(
    model: nn.Module, lam: float, l1_ratio: float, layer_penalty: float = 1.0
) -> torch.Tensor | float:
    if lam == 0 or l1_ratio == 1:
        return 0.0
    pairs = weighted_penalties(model, layer_penalty)
    return lam * (1 - l1_ratio) / 2 * sum(scale * (w * w).sum() for w, scale in pairs)


@torch.no_grad()
def prox_l1(model: nn.Module, threshold: float, layer_penalty: float = 1.0) -> None:
    """Soft-thresholding: w ← sign(w) · max(|w| − threshold · m, 0), m the layer's multiplier."""
    if threshold <= 0:
        return
    for w, scale in weighted_penalties(model, layer_penalty):
        if scale > 0:
            w.copy_(torch.sign(w) * torch.clamp(w.abs() - threshold * scale, min=0.0))


def _optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    trained = [p for p in model.parameters() if p.requires_grad]  # no bias before a norm
    if config.optimizer == "sgd":
        return torch.optim.SGD(trained, lr=config.learning_rate, momentum=config.momentum)
    return torch.optim.Adam(trained, lr=config.learning_rate)


def batches(
    n: int, config: TrainConfig, generator: torch.Generator, stop: StopCheck | None = None
) -> Iterator[torch.Tensor]:
    """One epoch's minibatches of row indices: the order is one draw from ``generator`` (none
    for full batches), ``stop`` is called before each, and a batch of one row is skipped under
    batch norm (it has no variance)."""
    size = n if config.batch_size is None else min(config.batch_size, n)
    order = torch.randperm(n, generator=generator) if size < n else torch.arange(n)
    for start in range(0, n, size):
        if stop is not None:
            stop()
        idx = order[start : start + size]
        if config.batch_norm and len(idx) < 2:
            continue
        yield idx


class _Member:
    """One model on one fold (k of them train side by side under cross-validation)."""

    def __init__(
        self,
        config: TrainConfig,
        fold: Fold,
        generator: torch.Generator,
        warm_start: LinearState | None,
    ) -> None:
        self.model = build_model(
            config.model_kind,
            n_in=fold.X_train.shape[1],
            n_out=config.n_out,
            hidden_layers=list(config.hidden_layers),
            batch_norm=config.batch_norm,
            dropout=config.dropout,
        )
        if warm_start is not None:
            set_linear(self.model, warm_start.weight, warm_start.bias)
        self.optimizer = _optimizer(config, self.model)
        self.X = torch.from_numpy(fold.X_train)
        self.y = torch.from_numpy(fold.y_train)
        self.generator = generator
        self.best_state: dict[str, torch.Tensor] | None = None

    def epoch(self, config: TrainConfig, stop: StopCheck | None = None) -> None:
        self.model.train()
        threshold = config.learning_rate * config.lam * config.l1_ratio
        for idx in batches(len(self.y), config, self.generator, stop):
            self.optimizer.zero_grad(set_to_none=True)
            inputs = self.X[idx]
            if config.input_noise > 0:
                noise = torch.randn(inputs.shape, generator=self.generator, dtype=inputs.dtype)
                inputs = inputs + config.input_noise * noise
            loss = data_loss(self.model(inputs), self.y[idx], config.task)
            loss = loss + _l2_term(self.model, config.lam, config.l1_ratio, config.layer_penalty)
            loss.backward()
            self.optimizer.step()
            prox_l1(self.model, threshold, config.layer_penalty)


def train_minibatch(
    config: TrainConfig,
    folds: list[Fold],
    on_epoch: EpochHook | None = None,
    *,
    warm_start: Sequence[LinearState] | None = None,
    stop: StopCheck | None = None,
) -> TrainResult:
    """Train one model per fold in lockstep for ``max_epochs`` (or until early stopping); the
    metric of an epoch is the mean over folds. ``warm_start`` (linear models): one starting
    state per fold instead of the random initialization. ``stop`` is called before every
    minibatch step and raises to abandon the training."""
    if warm_start is not None and config.model_kind != "linear":
        raise ValueError(f"a warm start needs a linear model, got {config.model_kind=}")
    starts = per_fold(warm_start, len(folds))
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    members = [
        _Member(config, fold, generator, start) for fold, start in zip(folds, starts, strict=True)
    ]
    models = [m.model for m in members]
    started = time.perf_counter()
    worst = -math.inf if config.direction == "maximize" else math.inf
    best_value, best_epoch, waited = worst, 0, 0
    curve: list[float] = []
    pruned = stopped_early = diverged = False
    epoch = 0
    for epoch in range(1, config.max_epochs + 1):
        for member in members:
            member.epoch(config, stop)
        metrics = score_folds(models, folds, "val", config.task)
        value = metrics[config.metric]
        curve.append(value)
        if not math.isfinite(metrics["val_loss"]):
            diverged = True  # not reported (no NaN to Optuna): its trial's diverged_epoch
            break
        min_delta = config.early_stopping.min_delta if config.early_stopping else 0.0
        if (
            better(value, best_value, direction=config.direction, min_delta=min_delta)
            or best_epoch == 0
        ):
            best_value, best_epoch, waited = value, epoch, 0
            if config.early_stopping and config.early_stopping.restore_best:
                for member in members:
                    member.best_state = copy.deepcopy(member.model.state_dict())
        else:
            waited += 1
        if on_epoch is not None and on_epoch(epoch, metrics):
            pruned = True
            break
        stopping = config.early_stopping
        if stopping and waited >= stopping.patience and epoch < config.max_epochs:
            stopped_early = True  # one that ran every epoch did not stop early
            break
    for member in members:
        if member.best_state is not None:
            member.model.load_state_dict(member.best_state)
    return build_result(
        config,
        models,
        folds,
        started=started,
        epochs_run=epoch,
        best_epoch=best_epoch,
        curve=curve,
        pruned=pruned,
        stopped_early=stopped_early,
        diverged=diverged,
    )
