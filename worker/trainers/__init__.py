"""The trainers: ``fit`` trains one configuration with the trainer its config names.

``exact`` (FISTA to a tolerance, linear models) and ``minibatch`` (an optimizer over minibatches,
any model) return the same ``TrainResult``; trials, the best model's retraining and the refit all
go through ``fit``, so all three train the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import assert_never

from regtune.worker.data import Fold
from regtune.worker.trainers.config import EpochHook, StopCheck, TrainConfig
from regtune.worker.trainers.exact import train_exact
from regtune.worker.trainers.fista import LinearState
from regtune.worker.trainers.minibatch import train_minibatch
from regtune.worker.trainers.result import TrainResult


def fit(
    config: TrainConfig,
    folds: list[Fold],
    on_epoch: EpochHook | None = None,
    *,
    warm_start: Sequence[LinearState] | None = None,
    stop: StopCheck | None = None,
) -> TrainResult:
    """Train one model per fold with ``config.solver``; ``warm_start`` (linear models): one
    starting state per fold; ``stop``: called between solver iterations and minibatch steps,
    raises to abandon the training (a cancel or a shutdown is seen within one of them)."""
    match config.solver:
        case "exact":
            return train_exact(config, folds, on_epoch, warm_start=warm_start, stop=stop)
        case "minibatch":
            return train_minibatch(config, folds, on_epoch, warm_start=warm_start, stop=stop)
        case _:
            assert_never(config.solver)
