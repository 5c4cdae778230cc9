"""The one result every trainer returns, and the one builder that measures it."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from torch import nn

from regtune.worker.data import Fold
from regtune.worker.evaluation import mean_of, score_folds, scores_per_fold
from regtune.worker.models import count_nonzero
from regtune.worker.trainers.config import TrainConfig
from regtune.worker.trainers.fista import LinearState


@dataclass
class TrainResult:
    models: list[nn.Module]
    """One model per fold (one for a holdout)."""
    value: float
    """The objective metric of the final models (the worst value if it is not finite)."""
    val_metrics: dict[str, float]
    """Mean over folds, named ``val_*``."""
    test_metrics: dict[str, float]
    """Mean over folds, named ``test_*``."""
    epochs_run: int
    best_epoch: int
    n_nonzero: int
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
) -> TrainResult:
    """Score the final models on every fold's validation and test rows; ``curve=None``: no
    epoch was evaluated, the curve is the final value alone. ``started``: ``perf_counter()``
    when training began."""
    val_folds = scores_per_fold(models, folds, "val", config.task)
    val = mean_of("val", val_folds)
    test = score_folds(models, folds, "test", config.task)
    value = val[config.metric]
    worst = -math.inf if config.direction == "maximize" else math.inf
    nonzero = [count_nonzero(m) for m in models]
    return TrainResult(
        models=list(models),
        value=value if math.isfinite(value) else worst,
        val_metrics=val,
        test_metrics=test,
        epochs_run=epochs_run,
        best_epoch=best_epoch,
        n_nonzero=int(np.mean([nz for nz, _ in nonzero])),
        n_weights=nonzero[0][1],
        train_seconds=time.perf_counter() - started,
        pruned=pruned,
        stopped_early=stopped_early,
        diverged=diverged or not math.isfinite(val["val_loss"]),
        curve=[value] if curve is None else curve,
        states=list(states),
        iterations=list(iterations),
        converged=converged,
        fold_values=[m[config.metric.removeprefix("val_")] for m in val_folds]
        if len(val_folds) > 1
        else [],
    )
