"""The study definition: what a user sends, validated eagerly, with the field and rule named."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
BUILTIN_TASKS: dict[str, str] = {
    "diabetes": "regression",
    "breast_cancer": "binary",
    "wine": "multiclass",
    "digits": "multiclass",
    "iris": "multiclass",
}
METRIC_DIRECTIONS: dict[str, str] = {
    "val_loss": "minimize",
    "val_rmse": "minimize",
    "val_r2": "maximize",
    "val_accuracy": "maximize",
    "val_auc": "maximize",
}
REGRESSION_METRICS = {"val_loss", "val_rmse", "val_r2"}
CLASSIFICATION_METRICS = {"val_loss", "val_accuracy", "val_auc"}
Task = Literal["regression", "binary", "multiclass"]


def field_error(path: tuple[str, ...], message: str, value: Any = None) -> ValidationError:
    """A validation error located at ``path`` (model-level checks would otherwise lose it)."""
    detail = InitErrorDetails(
        type=PydanticCustomError("value_error", message), loc=path, input=value
    )
    return ValidationError.from_exception_data("StudySpec", [detail])


def _leaves(annotation: Any) -> set[Any]:
    """The plain types (and literal values) an annotation admits."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _leaves(get_args(annotation)[0])
    if origin is Literal:
        return {type(v) for v in get_args(annotation)}
    args = get_args(annotation)
    return set().union(*(_leaves(a) for a in args)) if args else {annotation}


def _list_item(annotation: Any) -> Any:
    """The item annotation of the list an annotation admits, if any."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _list_item(get_args(annotation)[0])
    if origin is list:
        return get_args(annotation)[0]
    return next((i for a in get_args(annotation) if (i := _list_item(a)) is not None), None)


class Mistyped:
    """Stands in for a value of the wrong JSON type, so the field's own validation rejects it
    (with the field's path) where pydantic's lax mode would read true as 1, 0 as false, "5" as 5.
    """

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return repr(self.value)


def _json_typed(value: Any, annotation: Any) -> Any:
    if isinstance(value, list):
        item = _list_item(annotation)
        return value if item is None else [_json_typed(v, item) for v in value]
    leaves = _leaves(annotation) - {type(None)}
    wrong = (
        (isinstance(value, bool) and bool not in leaves)
        or (leaves == {bool} and value is not None and not isinstance(value, bool))
        or (isinstance(value, str) and bool(leaves) and leaves <= {int, float})
    )
    return Mistyped(value) if wrong else value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _json_types(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        checked = dict(data)
        for name, field in cls.model_fields.items():
            key = field.alias if field.alias in data else name
            if key in data:
                checked[key] = _json_typed(data[key], field.annotation)
        return checked


# --------------------------------------------------------------------------- datasets


class Builtin(Strict):
    builtin: Literal["diabetes", "breast_cancer", "wine", "digits", "iris"]


class Uploaded(Strict):
    id: str = Field(pattern=r"^[0-9a-f]{8,64}$")


class SyntheticParams(Strict):
    kind: Literal["sparse_regression", "classification", "friedman1"]
    n_samples: int = Field(default=500, ge=20, le=200_000)
    n_features: int = Field(default=20, ge=1, le=2_000)
    n_informative: int = Field(default=5, ge=1, le=2_000)
    noise: float = Field(default=0.1, ge=0, le=1_000)
    n_classes: int = Field(default=2, ge=2, le=50)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)

    @model_validator(mode="after")
    def _informative_fits(self) -> SyntheticParams:
        if self.n_informative > self.n_features:
            raise ValueError(
                f"n_informative must be ≤ n_features, got {self.n_informative} > {self.n_features}"
            )
        if self.kind == "friedman1" and self.n_features < 5:
            raise ValueError(f"friedman1 needs n_features ≥ 5, got {self.n_features}")
        return self


class Synthetic(Strict):
    synthetic: SyntheticParams


def _dataset_tag(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        value = value.__dict__
    if isinstance(value, dict):
        for key in ("builtin", "id", "synthetic"):
            if key in value:
                return key
    return None


DatasetRef = Annotated[
    Annotated[Builtin, Tag("builtin")]
    | Annotated[Uploaded, Tag("id")]
    | Annotated[Synthetic, Tag("synthetic")],
    Discriminator(
        _dataset_tag,
        custom_error_type="dataset_kind",
        custom_error_message="dataset must be one of {builtin: NAME}, {id: ID}, {synthetic: {...}}",
    ),
]


# --------------------------------------------------------------------------- search space


class Range(Strict):
    low: float = Field(allow_inf_nan=False)
    high: float = Field(allow_inf_nan=False)
    log: bool = False
    step: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if not self.low < self.high:
            raise ValueError(f"low must be < high, got low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got low={self.low}")
        if self.log and self.step is not None:
            raise ValueError("step cannot be combined with log")
        return self

    @property
    def values(self) -> tuple[float, float]:
        return self.low, self.high


class Choices(Strict):
    choices: list[float] = Field(min_length=1, max_length=1_000)

    @field_validator("choices")
    @classmethod
    def _finite(cls, value: list[float]) -> list[float]:
        if any(not math.isfinite(v) for v in value):
            raise ValueError("choices must be finite numbers")
        if len(set(value)) != len(value):
            raise ValueError("choices must be distinct")
        return value

    @property
    def values(self) -> tuple[float, float]:
        return min(self.choices), max(self.choices)


class Fixed(BaseModel):
    value: float = Field(allow_inf_nan=False)

    @model_serializer
    def _as_number(self) -> float:
        return self.value

    @classmethod
    def __get_pydantic_json_schema__(cls, _schema: Any, _handler: Any) -> dict[str, Any]:
        """Written as a plain number (``dropout: 0.2``), in requests as in answers."""
        return {"type": "number", "title": "Fixed", "description": "a fixed value"}

    @property
    def values(self) -> tuple[float, float]:
        return self.value, self.value


def _param_tag(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return "fixed"
    if isinstance(value, dict):
        return "choices" if "choices" in value else "range"
    if isinstance(value, Fixed | Range | Choices):
        return {Fixed: "fixed", Range: "range", Choices: "choices"}[type(value)]
    return None


def _to_fixed(value: Any) -> Any:
    return (
        Fixed(value=value)
        if isinstance(value, int | float) and not isinstance(value, bool)
        else value
    )


Param = Annotated[
    Annotated[Fixed, Tag("fixed")]
    | Annotated[Range, Tag("range")]
    | Annotated[Choices, Tag("choices")],
    Discriminator(
        _param_tag,
        custom_error_type="param_kind",
        custom_error_message=(
            "a parameter is a number, {low, high[, log][, step]} or {choices: [...]}"
        ),
    ),
]

# (lowest allowed, highest allowed, lowest is exclusive, highest is exclusive)
PARAM_BOUNDS: dict[str, tuple[float, float, bool, bool]] = {
    "lambda": (0.0, 1.0e6, True, False),
    "l1_ratio": (0.0, 1.0, False, False),
    "dropout": (0.0, 1.0, False, True),
    "learning_rate": (0.0, 10.0, True, False),
    "batch_size": (1.0, 1.0e6, False, False),
}


def _bound_rule(name: str) -> str:
    low, high, low_open, high_open = PARAM_BOUNDS[name]
    return f"{low:g} {'<' if low_open else '≤'} {name} {'<' if high_open else '≤'} {high:g}"


class SearchSpace(Strict):
    """Regularization knobs plus training knobs; each fixed, a range, or a set of choices."""

    lambda_: Param = Field(
        default_factory=lambda: Range(low=1e-5, high=10.0, log=True), alias="lambda"
    )
    l1_ratio: Param = Field(default_factory=lambda: Range(low=0.0, high=1.0))
    dropout: Param = Field(default_factory=lambda: Fixed(value=0.0))
    learning_rate: Param = Field(default_factory=lambda: Fixed(value=1e-2))
    batch_size: Param | None = None

    @field_validator("lambda_", "l1_ratio", "dropout", "learning_rate", "batch_size", mode="before")
    @classmethod
    def _wrap_numbers(cls, value: Any) -> Any:
        return _to_fixed(value)

    @field_validator("lambda_", "l1_ratio", "dropout", "learning_rate", "batch_size")
    @classmethod
    def _within_bounds(cls, value: Param | None, info: ValidationInfo) -> Param | None:
        if value is None:
            return value
        name = "lambda" if info.field_name == "lambda_" else str(info.field_name)
        low, high, low_open, high_open = PARAM_BOUNDS[name]
        lo, hi = value.values
        too_low = lo <= low if low_open else lo < low
        too_high = hi >= high if high_open else hi > high
        if too_low or too_high:
            raise ValueError(f"must satisfy {_bound_rule(name)}, got {lo:g}..{hi:g}")
        unstepped = isinstance(value, Range) and value.step is None and not value.log
        if name == "batch_size" and unstepped:
            raise ValueError("a batch_size range needs an integer step")
        return value

    def items(self) -> list[tuple[str, Fixed | Range | Choices]]:
        pairs = [
            ("lambda", self.lambda_),
            ("l1_ratio", self.l1_ratio),
            ("dropout", self.dropout),
            ("learning_rate", self.learning_rate),
        ]
        if self.batch_size is not None:
            pairs.append(("batch_size", self.batch_size))
        return pairs

    def searched(self) -> list[tuple[str, Range | Choices]]:
        return [(n, p) for n, p in self.items() if not isinstance(p, Fixed)]


# --------------------------------------------------------------------------- model and training


class Model(Strict):
    kind: Literal["linear", "mlp"] = "linear"
    hidden_layers: list[Annotated[int, Field(ge=1, le=4096)]] = Field(
        default_factory=lambda: [64, 64], max_length=8
    )
    batch_norm: bool = False


class EarlyStopping(Strict):
    patience: int = Field(default=5, ge=1, le=10_000)
    min_delta: float = Field(default=1e-4, ge=0, le=1e6, allow_inf_nan=False)
    restore_best: bool = True


class Training(Strict):
    max_epochs: int = Field(default=50, ge=1, le=10_000)
    batch_size: int | Literal["full"] = 128
    optimizer: Literal["adam", "sgd"] = "adam"
    momentum: float = Field(default=0.0, ge=0, lt=1)
    early_stopping: EarlyStopping | None = Field(default_factory=EarlyStopping)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)

    @field_validator("batch_size")
    @classmethod
    def _batch_positive(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 1 <= value <= 1_000_000:
            raise ValueError(f"batch_size must be between 1 and 1000000 or 'full', got {value}")
        return value


class Validation(Strict):
    holdout: float | None = Field(default=None, gt=0, lt=0.9)
    folds: int | None = Field(default=None, ge=2, le=20)
    test_fraction: float = Field(default=0.2, gt=0, lt=0.9)
    split_seed: int = Field(default=0, ge=0, le=2**31 - 1)

    @model_validator(mode="after")
    def _one_scheme(self) -> Validation:
        if self.holdout is not None and self.folds is not None:
            raise ValueError("give either holdout or folds, not both")
        if self.holdout is None and self.folds is None:
            self.holdout = 0.2
        return self


SPARSITY_OBJECTIVES: dict[str, str] = {"n_nonzero": "minimize", "n_inputs": "minimize"}
"""Sparsity measures a study can minimize beside a metric: non-zero weights, input features used."""
MetricName = Literal["val_loss", "val_rmse", "val_r2", "val_accuracy", "val_auc"]
ObjectiveName = Literal[
    "val_loss", "val_rmse", "val_r2", "val_accuracy", "val_auc", "n_nonzero", "n_inputs"
]


class Objective(Strict):
    metric: MetricName = "val_loss"
    direction: Literal["minimize", "maximize"] | None = None
    max_nonzero: int | None = Field(
        default=None,
        ge=0,
        description="a trial is feasible only if its model keeps at most this many non-zero "
        "weights (an Optuna constraint: best trial and Pareto set come from feasible trials)",
    )

    @model_validator(mode="after")
    def _default_direction(self) -> Objective:
        if self.direction is None:
            self.direction = METRIC_DIRECTIONS[self.metric]  # type: ignore[assignment]
        return self


# --------------------------------------------------------------------------- samplers and pruners


class SamplerBase(Strict):
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)


class TPESampler(SamplerBase):
    type: Literal["tpe"]
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
    type: Literal["median"]
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


class Budget(Strict):
    n_trials: int = Field(default=50, ge=1)
    timeout_s: float | None = Field(default=None, gt=0, le=30 * 24 * 3600, allow_inf_nan=False)
    max_parallel: int = Field(default=4, ge=1, le=1_000)
    max_retries: int = Field(default=2, ge=0, le=20)

    @field_validator("n_trials")
    @classmethod
    def _within_limit(cls, value: int) -> int:
        from service.settings import get_settings

        limit = get_settings().max_trials_per_study
        if value > limit:
            raise ValueError(
                f"n_trials must be ≤ {limit} (REGTUNE_MAX_TRIALS_PER_STUDY), got {value}"
            )
        return value


# --------------------------------------------------------------------------- the definition


class StudySpec(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    dataset: DatasetRef
    task: Literal["auto", "regression", "binary", "multiclass"] = "auto"
    model: Model = Field(default_factory=Model)
    search_space: SearchSpace = Field(default_factory=SearchSpace)
    training: Training = Field(default_factory=Training)
    validation: Validation = Field(default_factory=Validation)
    objective: Objective = Field(default_factory=Objective)
    objectives: list[ObjectiveName] | None = Field(
        default=None,
        min_length=2,
        max_length=3,
        description="several objectives → a Pareto front, e.g. [val_loss, n_nonzero]; "
        "the first must be a validation metric; such studies are not pruned",
    )
    sampler: Sampler = Field(default_factory=lambda: TPESampler(type="tpe", seed=0))
    pruner: Pruner = Field(default_factory=lambda: HyperbandPruner(type="hyperband"))
    budget: Budget = Field(default_factory=Budget)

    @field_validator("objectives")
    @classmethod
    def _objectives(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return value
        if value[0] in SPARSITY_OBJECTIVES:
            raise ValueError(f"the first objective must be a validation metric, got {value[0]}")
        if len(set(value)) != len(value):
            raise ValueError(f"objectives must be distinct, got {value}")
        return value

    @field_validator("sampler")
    @classmethod
    def _sampler_fits(cls, value: Any, info: ValidationInfo) -> Any:
        if info.data.get("objectives") and isinstance(value, CmaEsSampler):
            raise ValueError("the cmaes sampler cannot optimize several objectives")
        return value

    @field_validator("pruner")
    @classmethod
    def _pruner_fits(cls, value: Any, info: ValidationInfo) -> Any:
        if info.data.get("objectives") and not isinstance(value, NoPruner):
            raise ValueError(
                "a study with several objectives is not pruned (Optuna cannot prune them): "
                "give {type: none} or leave the pruner out"
            )
        return value

    @model_validator(mode="after")
    def _multi_objective(self) -> StudySpec:
        if self.objectives is None:
            return self
        first = self.objectives[0]
        if "objective" in self.model_fields_set and self.objective.metric != first:
            raise ValueError(
                f"objective.metric must equal objectives[0], got {self.objective.metric} "
                f"and {first}"
            )
        if "objective" not in self.model_fields_set:
            self.objective = Objective(metric=first)
        if "pruner" not in self.model_fields_set:
            self.pruner = NoPruner(type="none")
        return self

    @model_validator(mode="after")
    def _consistent(self) -> StudySpec:
        if isinstance(self.sampler, GridSampler):
            for name, param in self.search_space.searched():
                if isinstance(param, Range) and param.step is None:
                    raise field_error(
                        ("sampler", "type"),
                        f"the grid sampler needs finite choices: search_space.{name} is a "
                        "continuous range (give choices or a step)",
                        "grid",
                    )
        if self.task != "auto":
            _check_metric(self.objective.metric, self.task)
        return self

    def to_stored(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=False)


def _check_metric(metric: str, task: str) -> None:
    allowed = REGRESSION_METRICS if task == "regression" else CLASSIFICATION_METRICS
    if task == "multiclass":
        allowed = allowed - {"val_auc"}
    if metric not in allowed:
        raise field_error(
            ("objective", "metric"),
            f"{metric} does not apply to a {task} task; use one of {sorted(allowed)}",
            metric,
        )


def grid_values(param: Range | Choices) -> list[float]:
    if isinstance(param, Choices):
        return list(param.choices)
    assert param.step is not None
    count = math.floor((param.high - param.low) / param.step + 1e-9) + 1
    return [param.low + i * param.step for i in range(count)]


def resolve_task(spec: StudySpec, uploaded_task: str | None = None) -> StudySpec:
    """Return the definition with ``task: auto`` replaced by what the data says."""
    if spec.task != "auto":
        return spec
    data = spec.dataset
    if isinstance(data, Builtin):
        task = BUILTIN_TASKS[data.builtin]
    elif isinstance(data, Synthetic):
        params = data.synthetic
        if params.kind == "classification":
            task = "binary" if params.n_classes == 2 else "multiclass"
        else:
            task = "regression"
    else:
        if uploaded_task is None:
            raise ValueError("the task of an uploaded dataset is unknown")
        task = uploaded_task
    _check_metric(spec.objective.metric, task)
    return spec.model_copy(update={"task": task})


EXAMPLE: dict[str, Any] = {
    "name": "diabetes-enet",
    "dataset": {"builtin": "diabetes"},
    "task": "auto",
    "model": {"kind": "linear"},
    "search_space": {
        "lambda": {"low": 1e-5, "high": 10.0, "log": True},
        "l1_ratio": {"low": 0.0, "high": 1.0},
        "learning_rate": {"low": 1e-3, "high": 1e-1, "log": True},
    },
    "training": {"max_epochs": 30, "batch_size": 64, "optimizer": "adam"},
    "validation": {"holdout": 0.2},
    "objective": {"metric": "val_loss", "direction": "minimize"},
    "sampler": {"type": "tpe", "seed": 0},
    "pruner": {"type": "hyperband", "min_resource": 1, "reduction_factor": 3},
    "budget": {"n_trials": 20, "max_parallel": 2, "max_retries": 2},
}
