"""What a study optimizes: a validation metric and its direction, or several objectives."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from regtune.service.spec.enums import Task
from regtune.service.spec.strict import Strict, field_error

if TYPE_CHECKING:
    from regtune.service.spec.definition import StudySpec

MetricName = Literal["val_loss", "val_rmse", "val_r2", "val_accuracy", "val_auc"]
ObjectiveName = Literal[
    "val_loss", "val_rmse", "val_r2", "val_accuracy", "val_auc", "n_nonzero", "n_inputs"
]
Direction = Literal["minimize", "maximize"]
STORED = "stored"
"""Validation context key: the definition is a study's stored one (``StudySpec.from_stored``),
read back as it was accepted; rules added since then do not refuse it."""
Select = Literal["best", "one_se"]
METRIC_DIRECTIONS: dict[str, Direction] = {
    "val_loss": "minimize",
    "val_rmse": "minimize",
    "val_r2": "maximize",
    "val_accuracy": "maximize",
    "val_auc": "maximize",
}
SPARSITY_OBJECTIVES: dict[str, Direction] = {"n_nonzero": "minimize", "n_inputs": "minimize"}
"""Sparsity measures a study can minimize beside a metric: non-zero weights, input features used."""
REGRESSION_METRICS = {"val_loss", "val_rmse", "val_r2"}
CLASSIFICATION_METRICS = {"val_loss", "val_accuracy", "val_auc"}


def better(value: float, best: float, *, direction: str, min_delta: float = 0.0) -> bool:
    """``value`` improves on ``best`` by more than ``min_delta`` in ``direction`` (a NaN never
    does): early stopping's rule within a trial, and a study's stop rule (``budget.stop``)."""
    if math.isnan(value):
        return False
    if direction == "maximize":
        return value > best + min_delta
    return value < best - min_delta


class Objective(Strict):
    metric: MetricName = "val_loss"
    direction: Direction | None = None
    max_nonzero: int | None = Field(
        default=None,
        ge=0,
        description="a trial is feasible only if its model keeps at most this many non-zero "
        "weights (an Optuna constraint: best trial and Pareto set come from feasible trials)",
    )

    select: Select = Field(
        default="best",
        description="which trial is the study's best: best, the best value; one_se, the "
        "largest λ along the best configuration's λ path (its other parameters held) whose "
        "mean validation metric is within one standard error (across folds) of the best's, as "
        "glmnet's lambda.1se (needs folds and a searched λ)",
    )

    relax_margin: float | None = Field(
        default=None,
        ge=0,
        le=10,
        allow_inf_nan=False,
        description="a relaxed configuration (relax > 0) is the study's best only when its "
        "validation value beats the best unrelaxed one's by more than this many standard "
        "errors of their differences across folds (0: the best value, relaxed or not); left "
        "out, set when the study is created: 0.5 where relax is searched under k folds",
    )

    @field_validator("direction")
    @classmethod
    def _direction_fits(cls, value: Direction | None, info: ValidationInfo) -> Direction | None:
        """A metric has one direction that is better: the opposite would pick the worst model.
        A stored definition reads back as it was accepted (``STORED``)."""
        metric = info.data.get("metric")
        if value is None or metric is None or (info.context or {}).get(STORED):
            return value
        natural = METRIC_DIRECTIONS[metric]
        if value != natural:
            better = "lower" if natural == "minimize" else "higher"
            raise ValueError(
                f"{metric} needs direction {natural} ({better} is better), got {value}: give "
                f"{natural} or leave direction out (it follows the metric)"
            )
        return value

    @model_validator(mode="after")
    def _default_direction(self) -> Objective:
        if self.direction is None:
            self.direction = METRIC_DIRECTIONS[self.metric]
        return self


def direction_of(name: str) -> Direction:
    """The direction of an objective named in ``objectives`` (a metric or a sparsity measure)."""
    return METRIC_DIRECTIONS.get(name) or SPARSITY_OBJECTIVES[name]


def check_metric(
    metric: str, task: Task, *, where: tuple[str, ...] = ("objective", "metric")
) -> None:
    """Refuse a metric the (resolved) task cannot compute, naming the field ``where`` it is."""
    allowed = REGRESSION_METRICS if task == Task.REGRESSION else CLASSIFICATION_METRICS
    if task == Task.MULTICLASS:
        allowed = allowed - {"val_auc"}
    if metric not in allowed:
        raise field_error(
            where,
            f"{metric} does not apply to a {task} task; use one of {sorted(allowed)}",
            metric,
        )


def check_objectives(spec: StudySpec, task: Task) -> None:
    """Refuse an objective the (resolved) task cannot compute: ``objective.metric``, or each
    metric of ``objectives`` at its place (a sparsity measure applies to every task). Only
    ``objective.metric`` was checked, so a second objective no trial measures was accepted and
    its study never ended."""
    if spec.objectives is None:
        check_metric(spec.objective.metric, task)
        return
    for place, name in enumerate(spec.objectives):
        if name not in SPARSITY_OBJECTIVES:
            check_metric(name, task, where=("objectives", str(place)))


def objective_names(spec: StudySpec) -> list[str]:
    return list(spec.objectives) if spec.objectives else [spec.objective.metric]


def objective_directions(spec: StudySpec) -> list[str]:
    names = objective_names(spec)
    first = spec.objective.direction or direction_of(names[0])
    return [first, *(direction_of(name) for name in names[1:])]
