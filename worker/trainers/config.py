"""What one training of one configuration is asked to do: the trainer, the knobs, the budget."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from regtune.service.spec.training import Solver

EpochHook = Callable[[int, dict[str, float]], bool]
"""Called after every epoch with (epoch, validation metrics named ``val_*``); True stops (prunes).
For the exact trainer an "epoch" is ``ExactOptions.report_every`` solver iterations."""
StopCheck = Callable[[], None]
"""Called between solver iterations and minibatch steps; raises to stop the training at once
(the study was cancelled, the worker is shutting down)."""


@dataclass(frozen=True)
class EarlyStop:
    patience: int
    min_delta: float
    restore_best: bool


@dataclass(frozen=True)
class ExactOptions:
    """How far the exact trainer solves and how often it reports.

    ``tol`` bounds the norm of the objective's minimal subgradient
    (``regtune.worker.trainers.fista``): at 1e-6 the validation loss is within 3e-5 (relative) of
    the exact minimizer's on iris, breast cancer and diabetes. ``report_every`` = K iterations per
    reported "epoch": an iteration costs ~0.1 ms, a report through the service a few ms (a database
    write and read), so a smaller K makes the reports, not the solve, the trial's cost."""

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


@dataclass(frozen=True)
class TrainConfig:
    task: str
    n_out: int
    solver: Solver = "minibatch"
    """The trainer (``regtune.worker.trainers.fit`` dispatches on it)."""
    model_kind: str = "linear"
    hidden_layers: tuple[int, ...] = (64, 64)
    batch_norm: bool = False
    lam: float = 1e-3
    l1_ratio: float = 0.5
    relax: float = 0.0
    """The relaxed fit's share (``regtune.worker.trainers.relax``): least squares under the exact
    solver only; 0 is the elastic net."""
    dropout: float = 0.0
    input_noise: float = 0.0
    """Std of the Gaussian noise added to the standardized inputs of every training batch."""
    layer_penalty: float = 1.0
    """λ's multiplier on an MLP's layers after the first
    (``regtune.worker.models.weighted_penalties``)."""
    learning_rate: float = 1e-2
    batch_size: int | None = 128
    optimizer: str = "adam"
    momentum: float = 0.0
    max_epochs: int = 50
    early_stopping: EarlyStop | None = None
    exact: ExactOptions = field(default_factory=ExactOptions)
    """Tolerance, iteration budget and report interval of the exact trainer."""
    seed: int = 0
    metric: str = "val_loss"
    direction: str = "minimize"
