"""A definition's ``training``: the trainer (``Solver``) and its settings, early stopping, λ paths
and fused MLP trials, with the defaults measured for them (warm-ups, path grids).

Which trainer a study gets when none is named, and what it refuses under each, depends on the
model and the search space too: ``StudySpec`` decides those.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from regtune.service.spec.policies import MedianPruner
from regtune.service.spec.strict import Strict

Solver = Literal["exact", "minibatch"]
"""The trainers a definition can name (``training.solver``); ``regtune.worker.trainers.fit`` runs
them."""
EXACT_IGNORES = ("learning_rate", "batch_size")
"""Knobs of the minibatch trainer that the exact solver does not use (searching them is an
error under ``training.solver: exact``)."""
BATCH_SIZE = 128
"""``training.batch_size`` left out: what a definition that searches ``search_space.batch_size``
stores there (and may give: it is not a second batch size, ``StudySpec._batch_size_once``)."""
EXACT_ONLY = ("tol", "max_iter", "report_every")
"""``training`` settings that only the exact solver reads (the minibatch trainer runs
``max_epochs`` epochs and reports each)."""
MINIBATCH_ONLY = ("max_epochs", "batch_size", "optimizer", "momentum", "early_stopping", "seed")
"""``training`` settings that only the minibatch trainer reads (the exact solver solves
full-batch and deterministically to ``tol``, without early stopping)."""
EXACT_DOES_ANYWAY: dict[str, object] = {"batch_size": "full", "early_stopping": None}
"""Values of ``MINIBATCH_ONLY`` settings that say what the exact solver does anyway."""
MAX_FUSED_TRIALS = 64
"""Most trials one fused pass trains (``training.fused_trials``, ``REGTUNE_FUSED_TRIALS``)."""
MINIBATCH_WARMUP = 2
EXACT_WARMUP = 5
"""The default median pruner's warm-up by trainer: 2 epochs saved more epochs than 5 at equal
quality on every dataset of ``bench.pruning`` (MLPs, 5 seeds); the exact solver's reported
blocks keep 5 (``bench.quality`` measures its studies)."""


class EarlyStopping(Strict):
    patience: int = Field(
        default=5,
        ge=1,
        le=10_000,
        description="epochs without an improvement of objective.metric before a trial stops",
    )
    min_delta: float = Field(
        default=1e-4,
        ge=0,
        le=1e6,
        allow_inf_nan=False,
        description="what counts as an improvement, in objective.metric's own units (val_rmse: "
        "the target's, so a price's rmse wants a larger one than val_loss or val_accuracy)",
    )
    restore_best: bool = Field(
        default=True, description="end the trial with its best epoch's weights (its best_epoch)"
    )


PATH_POINTS = 100
PATH_MIN_RATIO = 1e-3
"""By default a path is scikit-learn's ``ElasticNetCV`` grid: 100 values of λ from λ_max down to
1e-3 of the lasso's λ_max (``n_alphas``, ``eps``). Measured on a 700-configuration 5-fold
diabetes study in one worker process: 0.57 CPU s against 0.75 s with 50 points over the whole
searched range (12 paths instead of 24; 9 of the 700 points the empty model instead of 131),
at equal quality (``bench.quality``; bench/RESULTS.md, "Regularization paths"). With 1e-4 the
same study took 0.60 s; the classification datasets' best λ lies inside either grid."""
MIN_PATHS = 8
"""A path takes at most ``n_trials / MIN_PATHS`` points (and at least 2), so that the sampler
chooses the other knobs (``l1_ratio``, noise, dropout) at least this many times in a study."""
PATH_SAMPLERS = ("tpe", "random", "gp", "qmc")
"""Samplers that learn from (or ignore) every finished trial: a path's points are trials they
did not propose. The grid sampler walks its own λ values, and CMA-ES and NSGA-II learn only from
the trials of their own generations, so they run one trial per claim."""


def default_pruner(solver: Solver) -> MedianPruner:
    """The pruner a definition without one gets: median after 10 finished trials, past the
    trainer's warm-up (``StudySpec._solver`` gives the minibatch trainer's)."""
    warmup = MINIBATCH_WARMUP if solver == "minibatch" else EXACT_WARMUP
    return MedianPruner(type="median", n_startup_trials=10, n_warmup_steps=warmup)


def default_exact_pruner() -> MedianPruner:
    """The pruner a definition without one gets under the exact solver."""
    return default_pruner("exact")


class LambdaPath(Strict):
    """Regularization-path trials (``model.kind: linear``, exact solver, λ a range): one claim
    solves ``points`` values of λ, log-spaced over its range, largest first, warm-started, for
    one choice of the other knobs, and stores each as its own trial."""

    points: int = Field(
        default=PATH_POINTS,
        ge=2,
        le=200,
        description="λ values solved (and trials stored) per path",
    )
    min_ratio: float | None = Field(
        default=PATH_MIN_RATIO,
        gt=0,
        lt=1,
        description="the path runs from the smallest λ that zeroes every weight (λ_max) down "
        "to this fraction of it, inside the searched range (null: down to the range's low)",
    )
    patience: int | None = Field(
        default=10,
        ge=1,
        le=200,
        description="stop a path after this many λ values without a better validation metric "
        "(null: always solve every point)",
    )


class Training(Strict):
    solver: Solver | None = Field(
        default=None,
        description="exact: full-batch proximal gradient to `tol` (linear models only); "
        "minibatch: the optimizer over minibatches for `max_epochs`. Default: exact for "
        "model.kind linear, minibatch otherwise",
    )
    tol: float = Field(default=1e-6, gt=0, le=1.0, allow_inf_nan=False)
    max_iter: int = Field(default=10_000, ge=1, le=1_000_000)
    report_every: int = Field(
        default=25, ge=1, le=100_000, description="exact solver iterations per reported epoch"
    )
    max_epochs: int = Field(default=50, ge=1, le=10_000)
    batch_size: int | Literal["full"] = Field(
        default=BATCH_SIZE,
        description="rows per minibatch, or 'full'; search_space.batch_size instead fixes or "
        "searches it (this one is then left out)",
    )
    optimizer: Literal["adam", "sgd"] = "adam"
    momentum: float = Field(default=0.0, ge=0, lt=1)
    early_stopping: EarlyStopping | None = Field(default_factory=EarlyStopping)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    lambda_path: LambdaPath | None = Field(
        default_factory=LambdaPath,
        description="λ-path trials, the default where they apply (linear model, exact solver, "
        "lambda a range, sampler tpe, random, gp or qmc); null: one trial per claim",
    )
    fused_trials: int | None = Field(
        default=None,
        ge=1,
        le=MAX_FUSED_TRIALS,
        description="MLP studies: up to this many trials a worker trains in one pass as one "
        "stacked model, each still its own trial (1: one at a time). Default: the worker's "
        "REGTUNE_FUSED_TRIALS",
    )

    def unread(self, solver: Solver) -> list[str]:
        """The settings given a value other than their default that ``solver`` never reads, in
        the order of the fields: by value, not ``model_fields_set``, as a stored definition
        holds every field and must read as it was created."""
        names = MINIBATCH_ONLY if solver == "exact" else EXACT_ONLY
        anyway = EXACT_DOES_ANYWAY if solver == "exact" else {}
        fields = Training.model_fields
        return [
            name
            for name in names
            if (value := getattr(self, name)) != fields[name].get_default(call_default_factory=True)
            and not (name in anyway and value == anyway[name])
        ]

    @field_validator("batch_size")
    @classmethod
    def _batch_positive(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 1 <= value <= 1_000_000:
            raise ValueError(f"batch_size must be between 1 and 1000000 or 'full', got {value}")
        return value
