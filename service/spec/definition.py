"""The study definition: what a user sends, validated once, with the field and rule named.

The parts live beside this module (``dataset_refs``, ``model``, ``space``, ``training``,
``validation``, ``objective``, ``policies``); this one holds ``StudySpec``, which puts them
together and checks the rules that span them. Limits that depend on the service's settings are
not checked here: the API checks them when a study is created (``regtune.service.api.limits``),
so a stored definition reads back the same in any process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from regtune.service.errors import DefinitionTooNew, FieldProblem
from regtune.service.spec.dataset_refs import DATASET_ID_PATTERN, Builtin, DatasetRef
from regtune.service.spec.enums import Task
from regtune.service.spec.model import MLP_ONLY, Model
from regtune.service.spec.objective import (
    SPARSITY_OBJECTIVES,
    STORED,
    Objective,
    ObjectiveName,
    check_metric,
    check_objectives,
)
from regtune.service.spec.points import refusal
from regtune.service.spec.policies import (
    Budget,
    CmaEsSampler,
    GridSampler,
    NoPruner,
    Pruner,
    Sampler,
    TPESampler,
)
from regtune.service.spec.relax import check_relax
from regtune.service.spec.space import ARCHITECTURE, Choices, Fixed, Range, SearchSpace
from regtune.service.spec.strict import Strict, field_error
from regtune.service.spec.training import (
    BATCH_SIZE,
    EXACT_IGNORES,
    MIN_PATHS,
    PATH_SAMPLERS,
    Solver,
    Training,
    default_exact_pruner,
    default_pruner,
)
from regtune.service.spec.validation import Validation

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
PATTERN_WORDS = {
    NAME_PATTERN: "1 to 128 ASCII letters (A-Z, a-z), digits, '.', '_' or '-', starting with a "
    "letter or digit",
    DATASET_ID_PATTERN: "8 to 64 lowercase hexadecimal digits (an id regtune answered)",
}
"""Each pattern a definition's text must match, in words for a person (the 422 says them)."""
UNKNOWN_TO_THIS_VERSION = frozenset(
    {"extra_forbidden", "literal_error", "enum", "union_tag_invalid"}
)
"""Pydantic's errors for a name or a value the definition's models do not have: in a stored
definition (the API validated it), what a newer regtune added."""
RefitRows = Literal["all", "non_test"]
"""The rows the best model's refit trains on (``refit_rows``): every row, or the non-test rows."""

STORED_WHEN_GIVEN: tuple[tuple[str, str], ...] = (
    ("search_space", "hidden_layers"),
    ("budget", "stop"),
    ("sampler", "points_to_evaluate"),
)
"""Fields a definition's JSON holds only when they are not null: those added since the last
release (``StudySpec.to_stored``)."""


class StudySpec(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    dataset: DatasetRef
    task: Task = Field(default=Task.AUTO, strict=False)
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
    sampler: Sampler = Field(
        default_factory=lambda: TPESampler(type="tpe"),
        description="default: tpe; a seed left out (or the whole sampler) is drawn when the "
        "study is created and stored in its definition, so each study proposes its own trials "
        "and its stored definition runs it again",
    )
    pruner: Pruner = Field(
        default_factory=default_exact_pruner,
        description="default: median after 10 finished trials and 2 warm-up epochs "
        "(minibatch trainer) or 5 reported blocks of iterations (exact solver), the "
        "candidates that kept quality on every dataset of bench.pruning (README)",
    )
    budget: Budget = Field(default_factory=Budget)
    refit: bool = Field(
        default=True,
        description="when the study completes, train the best configuration again on every "
        "non-test row (training + validation) for the best model; false keeps the best "
        "trial's own model(s)",
    )
    refit_rows: RefitRows = Field(
        default="all",
        description="the rows the refit trains the saved model on: 'all' (the default) every "
        "row, the test rows too, once the test metric is measured on them by the refit on the "
        "other rows, as scikit-learn's and glmnet's final fit uses all the data given; "
        "'non_test' saves that measured refit itself",
    )

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

    @field_validator("sampler", mode="before")
    @classmethod
    def _sampler_type(cls, value: Any) -> Any:
        """A sampler given without ``type`` is TPE, as a left-out sampler is, with the settings
        given; stored with its type written."""
        if isinstance(value, dict) and "type" not in value:
            return {"type": "tpe", **value}
        return value

    @field_validator("pruner", mode="before")
    @classmethod
    def _pruner_type(cls, value: Any, info: ValidationInfo) -> Any:
        """A median pruner, its ``type`` given or not, is the default one (median after 10
        finished trials, the trainer's warm-up) with the settings given changed, and so is a
        patient pruner's ``wrapped`` one (``{type: median}`` got Optuna's: 5 trials, no
        warm-up); stored with its type and every setting written, so a stored one reads as
        stored."""
        if not isinstance(value, dict) or (info.context or {}).get(STORED):
            return value
        training, model = info.data.get("training"), info.data.get("model")
        solver: Solver = getattr(training, "solver", None) or (
            "minibatch" if getattr(model, "kind", "linear") == "mlp" else "exact"
        )
        default = default_pruner(solver).model_dump()
        if value.get("type", "median") == "median":
            return {**default, **value}
        wrapped = value.get("wrapped")
        if (
            value["type"] == "patient"
            and isinstance(wrapped, dict)
            and wrapped.get("type", "median") == "median"
        ):
            return {**value, "wrapped": {**default, **wrapped}}
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
            raise field_error(
                ("objective", "metric"),
                f"objective.metric must equal objectives[0], got {self.objective.metric} "
                f"and {first}: leave objective.metric out (it follows objectives[0])",
                self.objective.metric,
            )
        if "objective" not in self.model_fields_set:
            self.objective = Objective.model_validate({"metric": first})
        if "pruner" not in self.model_fields_set:
            self.pruner = NoPruner(type="none")
        return self

    @model_validator(mode="after")
    def _mlp_knobs(self, info: ValidationInfo) -> StudySpec:
        """Knobs that only an MLP has: a linear model has one layer and no normalization,
        whether the search space or the model asks for it (a stored definition reads back as
        it was accepted)."""
        if self.model.kind == "mlp":
            return self
        if self.model.batch_norm and not (info.context or {}).get(STORED):
            raise field_error(
                ("model", "batch_norm"),
                "batch_norm applies to MLPs only (model.kind linear has one layer)",
                True,
            )
        for name, param in self.search_space.items():
            if name in MLP_ONLY and not _neutral(name, param):
                raise field_error(
                    ("search_space", name),
                    f"{name} applies to MLPs only (model.kind linear has one layer)",
                    name,
                )
        return self

    @model_validator(mode="after")
    def _batch_norm_once(self, info: ValidationInfo) -> StudySpec:
        """One place says batch normalization: ``model.batch_norm: true`` turns it on, or
        ``search_space.batch_norm`` fixes or searches it (and ``model.batch_norm`` is false
        then, as the definition is stored and shown); the worker takes the search space's. A
        stored definition reads back as it was accepted."""
        if self.search_space.batch_norm is None or not self.model.batch_norm:
            return self
        if (info.context or {}).get(STORED):
            return self
        raise field_error(
            ("model", "batch_norm"),
            "give batch_norm once: search_space.batch_norm fixes or searches it, so leave "
            "model.batch_norm out (or false)",
            True,
        )

    @model_validator(mode="after")
    def _batch_size_once(self, info: ValidationInfo) -> StudySpec:
        """One place says the batch size: ``training.batch_size``, or ``search_space.batch_size``
        fixes or searches it (and ``training.batch_size`` keeps its default then, as the
        definition is stored and shown); the worker takes the search space's. A stored
        definition reads back as it was accepted."""
        given = self.training.batch_size
        if self.search_space.batch_size is None or given == BATCH_SIZE:
            return self
        if (info.context or {}).get(STORED):
            return self
        raise field_error(
            ("training", "batch_size"),
            "give batch_size once: search_space.batch_size fixes or searches it, so leave "
            f"training.batch_size out (or at its default, {BATCH_SIZE})",
            given,
        )

    @model_validator(mode="after")
    def _architecture(self, info: ValidationInfo) -> StudySpec:
        """One place says the architecture: ``model.hidden_layers`` fixes it, or
        ``search_space.hidden_layers`` searches it (and ``model.hidden_layers`` is null then,
        as the definition is stored and shown). A linear model has none: ``[]``, as it is
        stored and shown (was the MLP's default ``[64, 64]``, which it never trained); a stored
        definition reads back as it was accepted."""
        searched = self.search_space.hidden_layers
        fixed = self.model.hidden_layers
        if self.model.kind == "linear" and not (info.context or {}).get(STORED):
            if fixed and "hidden_layers" in self.model.model_fields_set:
                raise field_error(
                    ("model", "hidden_layers"),
                    "hidden_layers applies to MLPs only (model.kind linear has no hidden "
                    "layer): leave it out, or give model.kind mlp",
                    fixed,
                )
            if searched is None:
                self.model.hidden_layers = []
                return self
        if searched is None:
            if fixed is None:
                raise field_error(
                    ("model", "hidden_layers"),
                    "hidden_layers may be null only when search_space.hidden_layers searches "
                    "the architecture: give the layers' sizes, e.g. [64, 64]",
                    None,
                )
            return self
        if self.model.kind != "mlp":
            raise field_error(
                ("search_space", "hidden_layers"),
                f"hidden_layers applies to MLPs only, got model.kind {self.model.kind}",
                searched.labels,
            )
        if "hidden_layers" in self.model.model_fields_set and fixed is not None:
            raise field_error(
                ("model", "hidden_layers"),
                "give the architecture once: search_space.hidden_layers searches it, so leave "
                "model.hidden_layers out (or null)",
                fixed,
            )
        self.model.hidden_layers = None
        return self

    def hidden_layers(self, values: Mapping[str, float]) -> tuple[int, ...]:
        """A trial's architecture: the choice its ``values`` name when searched, else the
        model's."""
        searched = self.search_space.hidden_layers
        if searched is not None:
            return searched.of(values[ARCHITECTURE])
        return tuple(self.model.hidden_layers or ())

    def architectures(self) -> list[list[int]]:
        """Every architecture a trial of this study may train (one unless searched)."""
        searched = self.search_space.hidden_layers
        if searched is not None:
            return [list(layers) for layers in searched.choices]
        return [list(self.model.hidden_layers or ())]

    @model_validator(mode="after")
    def _refit_rows(self, info: ValidationInfo) -> StudySpec:
        """Rows for the refit mean nothing without one, and leaving out test rows nothing
        without a test split (a stored definition reads back as it was accepted)."""
        given = "refit_rows" in self.model_fields_set
        if not self.refit and given:
            raise field_error(
                ("refit_rows",),
                "refit_rows applies to refit: true (refit false saves the best trial's own "
                "models): leave it out",
                self.refit_rows,
            )
        stored = (info.context or {}).get(STORED)
        if (
            given
            and self.refit_rows == "non_test"
            and not self.validation.test_split
            and not stored
        ):
            raise field_error(
                ("refit_rows",),
                "refit_rows non_test leaves the test rows out of the refit, and "
                "validation.test_fraction 0 holds none out: the refit trains on every row "
                "either way; leave refit_rows out",
                self.refit_rows,
            )
        return self

    @model_validator(mode="after")
    def _fused(self) -> StudySpec:
        """Fused training stacks MLPs; a linear model's trials run one at a time. (Under
        ``refit: false`` a fused member's saved model is retrained as a fused pass of one, with
        the masks and noise it drew in its pass: dropout and input noise fuse there too.)"""
        fused = self.training.fused_trials
        if fused is not None and fused > 1 and self.model.kind != "mlp":
            raise field_error(
                ("training", "fused_trials"),
                f"fused trials train MLPs only, got model.kind {self.model.kind}: give "
                "fused_trials 1 or leave it out",
                fused,
            )
        return self

    @model_validator(mode="after")
    def _solver(self) -> StudySpec:
        """Fill ``training.solver`` from the model, and refuse what the exact solver ignores."""
        training = self.training
        if training.solver is None:
            training.solver = "exact" if self.model.kind == "linear" else "minibatch"
        unset = "pruner" not in self.model_fields_set  # a multi-objective study set none
        if training.solver == "minibatch" and unset:
            self.pruner = default_pruner("minibatch")
        if training.solver != "exact":
            return self
        if self.model.kind != "linear":
            raise field_error(
                ("training", "solver"),
                f"the exact solver trains linear models only, got model.kind {self.model.kind}: "
                "give training.solver minibatch",
                "exact",
            )
        for name, _param in self.search_space.searched():
            if name in EXACT_IGNORES:
                raise field_error(
                    ("search_space", name),
                    f"the exact solver does not use {name}: fix it or give "
                    "training.solver minibatch to search it",
                    name,
                )
        return self

    @model_validator(mode="after")
    def _relax(self) -> StudySpec:
        """A relaxed fit is least squares on the elastic net's support, solved by the exact
        solver: a linear regression's. After ``_solver``, which fills ``training.solver``; a
        ``task: auto`` is checked again once resolved (``resolve_relax``)."""
        check_relax(self)
        return self

    @model_validator(mode="after")
    def _path(self) -> StudySpec:
        """Paths where they apply; asked for where they cannot, an error saying why."""
        training = self.training
        if training.lambda_path is None:
            return self
        reason = self.no_path_because()
        if reason is None:
            return self
        if "lambda_path" in training.model_fields_set:
            raise field_error(
                ("training", "lambda_path"),
                f"λ paths need {reason}: give training.lambda_path null",
                None,
            )
        training.lambda_path = None
        return self

    def no_path_because(self) -> str | None:
        """What λ paths need that this study lacks (``λ paths need …``), or None where they
        apply."""
        if self.solver != "exact":
            return f"the exact solver, got training.solver {self.solver}"
        if not isinstance(self.search_space.lambda_, Range):
            return "search_space.lambda to be a range {low, high}"
        if self.search_space.lambda_.step is not None:
            return "a continuous lambda range (no step)"
        if self.sampler.type not in PATH_SAMPLERS:
            return f"a sampler among {', '.join(PATH_SAMPLERS)}, got {self.sampler.type}"
        return None

    @property
    def epoch_budget(self) -> int:
        """The most epochs a trial reports, the steps its pruner sees: ``max_epochs``, or under
        the exact solver one per ``report_every`` iterations up to ``max_iter``."""
        training = self.training
        if self.solver == "exact":
            return -(-training.max_iter // training.report_every)
        return training.max_epochs

    @property
    def path_points(self) -> int:
        """Trials one claim may run: a path's points (at most ``n_trials / MIN_PATHS``), or 1."""
        path = self.training.lambda_path
        if path is None:
            return 1
        return max(2, min(path.points, self.budget.n_trials // MIN_PATHS))

    @model_validator(mode="after")
    def _stop_rule(self) -> StudySpec:
        """``budget.stop`` needs one best value: a Pareto front has none."""
        if self.budget.stop is not None and self.objectives is not None:
            raise field_error(
                ("budget", "stop"),
                "one objective only: a Pareto front has no single best value (give "
                "budget.stop for a study of one objective, or leave it out)",
                self.budget.stop.model_dump(),
            )
        return self

    @model_validator(mode="after")
    def _select(self) -> StudySpec:
        """``objective.select: one_se`` needs one objective, a searched λ and folds."""
        if self.objective.select != "one_se":
            return self
        problem = None
        if self.objectives is not None:
            problem = "a study with several objectives has a Pareto front, not one best trial"
        elif isinstance(self.search_space.lambda_, Fixed):
            problem = "it picks the largest λ, so search_space.lambda must be searched"
        elif self.validation.holdout is not None:
            problem = (
                "it needs the standard error across folds: give validation.folds or leave "
                "validation out (then 5 folds are used), not a holdout"
            )
        if problem is not None:
            raise field_error(
                ("objective", "select"), f"one_se does not apply: {problem}", "one_se"
            )
        return self

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> StudySpec:
        if isinstance(self.sampler, GridSampler):
            for name, param in self.search_space.searched():
                if isinstance(param, Range) and param.step is None:
                    raise field_error(
                        ("sampler", "type"),
                        f"the grid sampler needs finite choices: search_space.{name} is a "
                        "continuous range (give choices or a step)",
                        "grid",
                    )
            if "n_trials" not in self.budget.model_fields_set:  # the grid, once: Optuna's stop
                self.budget.n_trials = min(self.budget.n_trials, self.search_space.grid_size())
        task = self.task
        if task == Task.AUTO and isinstance(self.dataset, Builtin):
            task = self.dataset.builtin.task
        if task == Task.AUTO:  # an upload's or synthetic data's: checked by ``resolve_task``
            return self
        if (info.context or {}).get(STORED):  # objectives[1:] were not checked before
            check_metric(self.objective.metric, task)
        else:
            check_objectives(self, task)
        return self

    @model_validator(mode="after")
    def _points(self) -> StudySpec:
        """``sampler.points_to_evaluate``: each point within the search space, no more points
        than trials, and a sampler that runs them as any other trial (not the grid's walk)."""
        points = self.sampler.points_to_evaluate
        if not points:
            return self
        where = ("sampler", "points_to_evaluate")
        if isinstance(self.sampler, GridSampler):
            raise field_error(
                where,
                "the grid sampler walks its grid: give the configurations as the grid's choices, "
                "or use another sampler",
                points,
            )
        if len(points) > self.budget.n_trials:
            raise field_error(
                where,
                f"{len(points)} points but budget.n_trials is {self.budget.n_trials}: each point "
                "is a trial of the budget",
                len(points),
            )
        refused = refusal(self.search_space, points)
        if refused is not None:
            at, why, given = refused
            raise field_error((*where, *map(str, at)), why, given)
        return self

    @property
    def solver(self) -> Solver:
        """The trainer this study's trials use (``_solver`` fills it in from the model kind)."""
        assert self.training.solver is not None, "filled in by validation"
        return self.training.solver

    def to_stored(self) -> dict[str, Any]:
        """The JSON the studies table keeps; ``from_stored`` reads it back. A field added since
        the last release (``STORED_WHEN_GIVEN``) is left out while it is null, so that a worker
        of that release, whose ``from_stored`` refuses fields it does not know, still runs a
        definition that does not use it (during a rolling upgrade: README, "Upgrading")."""
        stored = self.model_dump(mode="json", by_alias=True, exclude_none=False)
        if not self.refit:  # rows for a refit there is not: a definition may not give them
            del stored["refit_rows"]
        for section, name in STORED_WHEN_GIVEN:
            if stored[section].get(name, ...) is None:
                del stored[section][name]
        return stored

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> StudySpec:
        """The definition a study stored, as the API accepted it.

        Only the definition's own rules apply (never the reading process's settings), so any
        worker reads what the API stored whatever its configuration. A ``ValidationError`` here
        is the server's data at fault, not a caller's.
        """
        data = _as_run_then(data)
        try:
            return cls.model_validate(data, context={STORED: True})
        except ValidationError as exc:
            unknown = [e for e in exc.errors() if e["type"] in UNKNOWN_TO_THIS_VERSION]
            if not unknown:
                raise
            places = [".".join(str(part) for part in e["loc"]) for e in unknown]
            raise DefinitionTooNew(
                f"the stored definition has what this regtune does not know "
                f"({', '.join(places)}): a newer regtune accepted it",
                [FieldProblem(place, e["msg"]) for place, e in zip(places, unknown, strict=True)],
            ) from exc


AS_RUN_BEFORE: tuple[tuple[str | None, str, Any], ...] = (
    ("training", "solver", "minibatch"),
    ("training", "lambda_path", None),
    (None, "refit", False),
)
"""Fields whose default changed what a study does when they were added, each with the value that
does what the versions before it did: every trial trained by minibatch (linear ones too) before
``training.solver`` (7c59663); one trial per claim before λ paths; the best trial's own model
retrained before ``refit``. A stored definition without the field reads with that value, where
today's default (the exact solver for a linear model, λ paths, the refit) would run another
study than the one stored, or refuse it (``search_space.learning_rate`` searched under the
exact solver)."""


def _as_run_then(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as the version that stored it ran it (``AS_RUN_BEFORE``), and without the
    ``refit_rows`` it stored beside ``refit: false`` before that was left out. A refit stored
    without ``refit_rows`` saved the refit on the non-test rows: ``non_test``."""
    read = dict(data)
    for section, name, value in AS_RUN_BEFORE:
        part = read.get(section, {}) if section is not None else read
        if isinstance(part, dict) and name not in part:
            if section is None:
                read[name] = value
            else:
                read[section] = {**part, name: value}
    if read.get("refit") is False:
        read.pop("refit_rows", None)
    elif "refit_rows" not in read:
        read["refit_rows"] = "non_test"
    return read


def _neutral(name: str, param: Fixed | Range | Choices) -> bool:
    return isinstance(param, Fixed) and param.value == MLP_ONLY[name]


EXAMPLE: dict[str, Any] = {
    "name": "diabetes-enet",
    "dataset": {"builtin": "diabetes"},
    "task": "auto",
    "model": {"kind": "linear"},
    "search_space": {
        "lambda": {"low": 1e-5, "high": 10.0, "log": True},
        "l1_ratio": {"low": 0.0, "high": 1.0},
    },
    "training": {"solver": "exact", "tol": 1e-6, "max_iter": 10_000, "report_every": 25},
    "validation": {"holdout": 0.2},
    "objective": {"metric": "val_loss", "direction": "minimize"},
    "sampler": {"type": "tpe", "seed": 0},
    "budget": {"n_trials": 20, "max_parallel": 2, "max_retries": 2},
}
