"""How a study searches and when it stops: sampler, pruner and budget (Optuna's vocabulary)."""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from regtune.service.spec.points import MAX_POINTS
from regtune.service.spec.strict import Strict

SEED_LIMIT = 2**31 - 1


class SamplerBase(Strict):
    seed: int | None = Field(
        default=None,
        ge=0,
        le=SEED_LIMIT,
        description="the seed of the proposals; left out or null, one is drawn when the study "
        "is created and stored in its definition",
    )
    points_to_evaluate: list[dict[str, Any]] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_POINTS,
        description="configurations the study runs first, as given, before the sampler proposes "
        "its own (Optuna's enqueue_trial, Ray Tune's points_to_evaluate), e.g. [{lambda: 0.01, "
        "l1_ratio: 0.5}]: each names searched parameters (hidden_layers as its list of units) "
        "and a value within the searched range or choices; what a point leaves out the sampler "
        "proposes. Each point is a trial of budget.n_trials (at most n_trials points); a point "
        "that gives lambda in a λ-path study is that one configuration, not a path. Not with "
        "the grid sampler",
    )

    def seeded(self) -> Self:
        """This sampler with its seed as given, or, left out or null, one drawn now: a study
        stores the seed its trials were drawn with, so its stored definition runs it again.
        (Unseeded, every claim's sampler drew from the system's entropy, which nothing kept.)"""
        if self.seed is not None:
            return self
        return self.model_copy(update={"seed": secrets.randbelow(SEED_LIMIT + 1)})


class TPESampler(SamplerBase):
    type: Literal["tpe"] = "tpe"
    """The one sampler that may leave out its ``type`` (``StudySpec._sampler_type``)."""
    n_startup_trials: int = Field(default=10, ge=0, le=10_000)
    multivariate: bool = True
    constant_liar: bool = True


class RandomSampler(SamplerBase):
    type: Literal["random"]


class GridSampler(SamplerBase):
    type: Literal["grid"]


class GPSampler(SamplerBase):
    type: Literal["gp"]
    n_startup_trials: int = Field(default=10, ge=0, le=10_000)


class CmaEsSampler(SamplerBase):
    type: Literal["cmaes"]
    n_startup_trials: int = Field(default=1, ge=0, le=10_000)
    sigma0: float | None = Field(default=None, gt=0, allow_inf_nan=False)


class NSGAIISampler(SamplerBase):
    type: Literal["nsgaii"]
    population_size: int = Field(default=50, ge=2, le=10_000)


class QMCSampler(SamplerBase):
    type: Literal["qmc"]
    qmc_type: Literal["sobol", "halton"] = "sobol"
    scramble: bool = True


Sampler = Annotated[
    TPESampler
    | RandomSampler
    | GridSampler
    | GPSampler
    | CmaEsSampler
    | NSGAIISampler
    | QMCSampler,
    Field(discriminator="type"),
]


class NoPruner(Strict):
    type: Literal["none"]


class MedianPruner(Strict):
    """Optuna's median pruner. Its defaults here are Optuna's; in a definition the settings left
    out are the default pruner's, 10 trials and the trainer's warm-up
    (``StudySpec._pruner_type``)."""

    type: Literal["median"] = "median"
    """The one pruner that may leave out its ``type`` (``StudySpec._pruner_type``,
    ``PatientPruner._wrapped_type``)."""
    n_startup_trials: int = Field(default=5, ge=0, le=10_000)
    n_warmup_steps: int = Field(default=0, ge=0, le=10_000)
    interval_steps: int = Field(default=1, ge=1, le=10_000)


class PercentilePruner(MedianPruner):
    type: Literal["percentile"]  # type: ignore[assignment]
    percentile: float = Field(default=25.0, ge=0, le=100)


class SuccessiveHalvingPruner(Strict):
    type: Literal["successive_halving"]
    min_resource: int | Literal["auto"] = "auto"
    reduction_factor: int = Field(default=4, ge=2, le=100)
    min_early_stopping_rate: int = Field(default=0, ge=0, le=100)

    @field_validator("min_resource")
    @classmethod
    def _min_resource(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError(f"min_resource must be ≥ 1 or 'auto', got {value}")
        return value


class HyperbandPruner(Strict):
    type: Literal["hyperband"]
    min_resource: int = Field(default=1, ge=1, le=10_000)
    max_resource: int | Literal["auto"] = "auto"
    reduction_factor: int = Field(default=3, ge=2, le=100)

    @model_validator(mode="after")
    def _resources(self) -> HyperbandPruner:
        if isinstance(self.max_resource, int) and self.max_resource <= self.min_resource:
            raise ValueError(
                "max_resource must be > min_resource, "
                f"got {self.max_resource} ≤ {self.min_resource}"
            )
        return self


class ThresholdPruner(Strict):
    type: Literal["threshold"]
    lower: float | None = Field(default=None, allow_inf_nan=False)
    upper: float | None = Field(default=None, allow_inf_nan=False)
    n_warmup_steps: int = Field(default=0, ge=0, le=10_000)

    @model_validator(mode="after")
    def _some_bound(self) -> ThresholdPruner:
        if self.lower is None and self.upper is None:
            raise ValueError("give lower, upper or both")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(f"lower must be ≤ upper, got {self.lower} > {self.upper}")
        return self


InnerPruner = Annotated[
    MedianPruner | PercentilePruner | SuccessiveHalvingPruner | HyperbandPruner | ThresholdPruner,
    Field(discriminator="type"),
]


class PatientPruner(Strict):
    type: Literal["patient"]
    wrapped: InnerPruner | None = None
    patience: int = Field(default=3, ge=0, le=10_000)
    min_delta: float = Field(default=0.0, ge=0, allow_inf_nan=False)

    @field_validator("wrapped", mode="before")
    @classmethod
    def _wrapped_type(cls, value: Any) -> Any:
        """A wrapped pruner without ``type`` is a median pruner, as the schema says (in a
        definition, the default one: ``StudySpec._pruner_type`` fills in its settings)."""
        if isinstance(value, dict) and "type" not in value:
            return {"type": "median", **value}
        return value


Pruner = Annotated[
    NoPruner
    | MedianPruner
    | PercentilePruner
    | SuccessiveHalvingPruner
    | HyperbandPruner
    | ThresholdPruner
    | PatientPruner,
    Field(discriminator="type"),
]


class StopRule(Strict):
    """When a study ends before its budget: a goal its best value reaches (Katib's
    ``objective.goal``), or trials in a row that do not improve it (hyperopt's
    ``no_progress_loss``, Ray Tune's plateau stoppers). Stopping is what a passed deadline
    does: no new trial starts, those running finish and count."""

    value: float | None = Field(
        default=None,
        allow_inf_nan=False,
        description="the study stops once its best COMPLETE trial's value reaches this (≥ for "
        "a maximized metric, ≤ for a minimized one)",
    )
    patience: int | None = Field(
        default=None,
        ge=1,
        description="the study stops once this many trials in a row (COMPLETE or PRUNED, in "
        "the order they finish) did not improve its best value by more than min_delta",
    )
    min_delta: float = Field(
        default=0.0,
        ge=0,
        allow_inf_nan=False,
        description="the improvement of the best value (in the metric's units) that counts for "
        "patience; a smaller one does not",
    )

    @model_validator(mode="after")
    def _some_rule(self) -> StopRule:
        if self.value is None and self.patience is None:
            raise ValueError("give value, patience or both")
        return self


class Budget(Strict):
    n_trials: int = Field(default=50, ge=1)
    timeout_s: float | None = Field(default=None, gt=0, le=30 * 24 * 3600, allow_inf_nan=False)
    max_parallel: int = Field(default=4, ge=1, le=1_000)
    max_retries: int = Field(default=2, ge=0, le=20)
    stop: StopRule | None = Field(
        default=None,
        description="end the study before budget.n_trials: once its best value reaches "
        "stop.value, or once stop.patience trials in a row did not improve it; null (the "
        "default): it runs its whole budget",
    )
