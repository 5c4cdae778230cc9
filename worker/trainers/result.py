"""The one result every trainer returns, and the one builder that measures it."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from regtune.worker.data import Fold
from regtune.worker.evaluation import AffineScorer, Scores, mean_of, rows_of, scores_per_fold
from regtune.worker.models import count_nonzero, penalized_weights
from regtune.worker.trainers.config import TrainConfig
from regtune.worker.trainers.fista import LinearState


@dataclass
class TrainResult:
    models: list[nn.Module]
    """One model per fold (one for a holdout); none for a λ path's point, whose linear models
    are its ``states`` (a module per point and fold cost more than scoring it)."""
    value: float
    """The objective metric of the final models (the worst value if it is not finite or the
    training diverged)."""
    val_metrics: dict[str, float]
    """Mean over folds, named ``val_*``."""
    test_metrics: dict[str, float]
    """Mean over folds, named ``test_*``."""
    epochs_run: int
    best_epoch: int
    n_nonzero: float
    """Non-zero weights of a fold model, the mean over folds (``objective.max_nonzero`` holds it
    to its limit; an integer's truncation let 4.8 pass a limit of 4)."""
    n_weights: int
    train_seconds: float
    pruned: bool = False
    stopped_early: bool = False
    diverged: bool = False
    """The loss became NaN or infinite (e.g. a learning rate far too large); training stopped."""
    curve: list[float] = field(default_factory=list)
    states: list[LinearState] = field(default_factory=list)
    """Exact trainer: each fold's solution in float64, the warm start of a neighbouring trial."""
    iterations: list[int] = field(default_factory=list)
    """Exact trainer: solver iterations per fold."""
    converged: bool = False
    """Exact trainer: every fold met the tolerance (False when pruned or out of ``max_iter``)."""
    fold_values: list[float] = field(default_factory=list)
    """The objective metric of each fold's model, with several folds (the report's ± 1 SE)."""
    stacked_weights: np.ndarray | None = None
    """A λ path's point: its ``states``' weight matrices stacked (folds, outputs, inputs), for
    counting and averaging them at once (a path does so for every point)."""
    fused: bool = False
    """Trained as a member of a fused pass: its dropout masks and input noise came from the
    member's own generators (``regtune.worker.trainers.draws``), not the one-at-a-time
    trainer's, so only a fused pass retrains it (``regtune.worker.best_model``)."""

    def fold_weights(self) -> list[list[torch.Tensor]]:
        """Each fold model's penalized weight matrices (a path point's: its states' weights)."""
        if self.models:
            return [penalized_weights(m) for m in self.models]
        return [[state.weight] for state in self.states]


def build_result(
    config: TrainConfig,
    models: Sequence[nn.Module],
    folds: Sequence[Fold],
    *,
    started: float,
    epochs_run: int,
    best_epoch: int,
    curve: list[float] | None,
    pruned: bool = False,
    stopped_early: bool = False,
    diverged: bool = False,
    states: Sequence[LinearState] = (),
    iterations: Sequence[int] = (),
    converged: bool = False,
    scorer: AffineScorer | None = None,
    scores: Scores | None = None,
    stacked: np.ndarray | None = None,
    fused: bool = False,
) -> TrainResult:
    """Score the final models on every fold's validation and test rows; ``curve=None``: no
    epoch was evaluated, the curve is the final value alone. ``started``: ``perf_counter()``
    when training began. No ``models``: the linear models are ``states`` (a λ path's point),
    scored by ``scorer`` (made once for a path's folds), unless ``scores`` are given; ``stacked``:
    their weights stacked (folds, outputs, inputs), if at hand. ``fused``: trained as a member
    of a fused pass."""
    if models:
        val_folds = scores_per_fold(models, folds, "val", config.task)
        test_folds = scores_per_fold(models, folds, "test", config.task)
        nonzero = [count_nonzero(m) for m in models]
        stacked = None
    else:
        if stacked is None:
            stacked = np.stack([state.weight.detach().numpy() for state in states])
        if scores is None:
            biases = [state.bias.detach().numpy() for state in states]
            scores = (scorer or AffineScorer(folds, config.task))(
                list(zip(stacked, biases, strict=True))
            )
        val_folds, test_folds = scores
        size = stacked[0].size
        nonzero = [(int(n), size) for n in np.count_nonzero(stacked.reshape(len(states), -1), 1)]
    val = mean_of("val", val_folds, rows=rows_of(folds, "val"))
    test = mean_of("test", test_folds, rows=rows_of(folds, "test"))
    value = val[config.metric]
    worst = -math.inf if config.direction == "maximize" else math.inf
    # a diverged training is the worst value even when early stopping restored an earlier,
    # finite epoch: its learning rate is past the edge, and a refit with it on more rows (more
    # steps an epoch) diverges sooner; the metrics stay the restored epoch's
    diverged = diverged or not math.isfinite(val["val_loss"])
    return TrainResult(
        models=list(models),
        value=value if math.isfinite(value) and not diverged else worst,
        val_metrics=val,
        test_metrics=test,
        epochs_run=epochs_run,
        best_epoch=best_epoch,
        n_nonzero=sum(nz for nz, _ in nonzero) / len(nonzero),
        n_weights=nonzero[0][1],
        train_seconds=time.perf_counter() - started,
        pruned=pruned,
        stopped_early=stopped_early,
        diverged=diverged,
        curve=[value] if curve is None else curve,
        states=list(states),
        iterations=list(iterations),
        converged=converged,
        fold_values=[m[config.metric.removeprefix("val_")] for m in val_folds]
        if len(val_folds) > 1
        else [],
        stacked_weights=stacked,
        fused=fused,
    )
