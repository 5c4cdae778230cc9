"""What a study definition asks of a worker, estimated before the study is accepted.

A definition can be valid field by field and still be one no worker can run: a grid over four
knobs of 1,000 choices each (Optuna's ``GridSampler`` builds the whole product), an MLP of
``[4096] × 8`` under 3 folds, a batch-norm model trained on batches of one row. Such a study
would be claimed by every worker in turn and kill or occupy each one. The API estimates the
grid size, the memory of one trial (data, model and optimizer state per fold, activations, the
sampler; under the exact solver, which is full-batch, its iterates and its copies of every
training row instead of an optimizer's state and a batch), its compute (epochs × rows ×
parameters for the minibatch trainer; ``max_iter`` × the cost of one iteration for the exact
solver, whose single iteration is bounded too, so a stop is seen within a second) and the
learning-curve rows it writes. ``spec.admission`` holds each estimate against the configured
budget and rejects what is over it with a 422 naming the field to change.

Only ``StudySpec`` is imported from the definition; the rest is read from its attributes.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from regtune.service.settings import Settings
from regtune.service.spec.datasets import BuiltinDataset
from regtune.service.spec.definition import StudySpec

FLOAT32 = 4
FLOAT64 = 8
GRID_POINT_BYTES = 200
"""Optuna's GridSampler holds one tuple per grid point (and sets of their ids)."""
GP_MATRIX_COPIES = 6
"""The GP sampler's n × n kernel matrices (kernel, Cholesky factor, gradients) in float64."""


@dataclass(frozen=True)
class DataShape:
    rows: int
    features: int
    classes: int
    """Distinct target values (1 for regression)."""
    smallest_class: int | None = None
    """Rows of the least populated class (classification; None when unknown or regression):
    stratified folds need at least one member of each class per fold."""

    @property
    def outputs(self) -> int:
        """The model's outputs: one per class for a multiclass task, else one."""
        return self.classes if self.classes > 2 else 1


@dataclass(frozen=True)
class Budget:
    max_grid_points: int
    max_trial_memory_bytes: int
    max_trial_flop: float
    max_iteration_flop: float = 5e9
    """One exact-solver iteration: a stop (cancel, SIGTERM) is seen between two of them."""
    max_reports: int = 10_000
    """Learning-curve rows one trial writes (one per reported epoch)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Budget:
        return cls(
            max_grid_points=settings.max_grid_points,
            max_trial_memory_bytes=settings.max_trial_memory_mb * 1024 * 1024,
            max_trial_flop=settings.max_trial_tflop * 1e12,
            max_iteration_flop=settings.max_iteration_gflop * 1e9,
            max_reports=settings.max_reports_per_trial,
        )


@dataclass(frozen=True)
class Cost:
    grid_points: int | None
    """Points of the grid (grid sampler only)."""
    parameters: int
    """Weights and biases of one model."""
    members: int
    """Models trained side by side: one per fold, one for a holdout."""
    train_rows: int
    val_rows: int
    memory: dict[str, int]
    """Bytes of one trial by part: data, model, activations, a λ path's Newton systems,
    sampler."""
    flop: float
    """Floating-point operations of one trial that runs every epoch (every iteration)."""
    iteration_flop: float = 0.0
    """Exact solver: one iteration of one fold (gradient, step and one backtracking try)."""
    reports: int = 0
    """Reported epochs of one trial: learning-curve rows it writes."""

    @property
    def memory_bytes(self) -> int:
        return sum(self.memory.values())


def shape_of(spec: StudySpec, uploaded: DataShape | None = None) -> DataShape:
    """The dataset's shape: known for built-ins, given for synthetic data, stored for uploads."""
    builtin: BuiltinDataset | None = getattr(spec.dataset, "builtin", None)
    if builtin is not None:
        return DataShape(builtin.rows, builtin.features, builtin.classes, builtin.smallest_class)
    synthetic = getattr(spec.dataset, "synthetic", None)
    if synthetic is not None:
        if synthetic.kind != "classification":
            return DataShape(synthetic.n_samples, synthetic.n_features, 1)
        # make_classification deals rows out evenly, then relabels a fraction flip_y at random
        # (the worker's flip_y is min(0.5, noise)): a lower bound of the smallest class
        even = synthetic.n_samples // synthetic.n_classes
        smallest = math.floor(even * (1 - min(0.5, synthetic.noise)))
        return DataShape(synthetic.n_samples, synthetic.n_features, synthetic.n_classes, smallest)
    if uploaded is None:
        raise ValueError("the shape of an uploaded dataset must be given")
    return uploaded


def grid_points(spec: StudySpec) -> int | None:
    """Size of the grid the grid sampler enumerates, counted without building it."""
    if spec.sampler.type != "grid":
        return None
    return spec.search_space.grid_size()


def _layer_widths(spec: StudySpec, shape: DataShape) -> list[list[int]]:
    """Every architecture a trial may train, as its layers' widths from inputs to outputs."""
    n_out = shape.classes if shape.classes > 2 else 1
    if spec.model.kind != "mlp":
        return [[shape.features, n_out]]
    return [[shape.features, *hidden, n_out] for hidden in spec.architectures()]


def architecture_field(spec: StudySpec) -> str:
    """Where the definition sets the architecture (the field a too-large model names)."""
    if spec.search_space.hidden_layers is not None:
        return "search_space.hidden_layers"
    return "model.hidden_layers"


def _parameters(widths: list[int], *, batch_norm: bool) -> int:
    weights = sum(a * b + b for a, b in itertools.pairwise(widths))
    norms = 4 * sum(widths[1:-1]) if batch_norm else 0  # weight, bias, running mean and var
    return weights + norms


def splits(spec: StudySpec, rows: int) -> tuple[int, int, int, int]:
    """(members, training rows, validation rows, rows left after the test split) per fold."""
    validation = spec.validation
    rest = rows - math.ceil(rows * validation.test_fraction)
    if validation.folds:
        val = math.ceil(rest / validation.folds)
        return validation.folds, rest - val, val, rest
    val = math.ceil(rest * (validation.holdout or 0.2))
    return 1, rest - val, val, rest


def _largest_batch(spec: StudySpec, train_rows: int) -> int:
    sizes: list[float] = []
    searched = spec.search_space.batch_size
    if searched is not None:
        sizes.append(max(getattr(searched, "values", (train_rows, train_rows))))
    elif spec.training.batch_size != "full":
        sizes.append(float(spec.training.batch_size))
    return int(min(max(sizes, default=train_rows), train_rows))


def estimate(spec: StudySpec, shape: DataShape) -> Cost:
    """Memory and compute of one trial of ``spec`` on data of ``shape`` (upper estimates), for
    the trainer that will run it."""
    members, train_rows, val_rows, _ = splits(spec, shape.rows)
    # a searched architecture is costed at its largest choice, part by part (an upper bound)
    architectures = _layer_widths(spec, shape)
    batch_norm = batch_norm_possible(spec)
    parameters = max(_parameters(widths, batch_norm=batch_norm) for widths in architectures)
    # the table as loaded (float64, plus a filled copy), then each member's standardized splits
    data = (
        2 * shape.rows * shape.features * FLOAT64 + members * shape.rows * shape.features * FLOAT32
    )
    units = max(sum(widths[1:]) for widths in architectures)
    eval_rows = max(val_rows, shape.rows - train_rows - val_rows)
    activations = 2 * eval_rows * units * FLOAT32  # a model's outputs on the rows it is scored on
    path = 0
    if spec.solver == "exact":
        model, training_rows, path = _exact_memory(
            spec, shape, members=members, parameters=parameters, train_rows=train_rows
        )
        activations += training_rows
    else:
        model = _minibatch_model(spec, members=members, parameters=parameters)
        widest = max(a * b for widths in architectures for a, b in itertools.pairwise(widths))
        batch = _largest_batch(spec, train_rows)
        activations += 4 * batch * units * FLOAT32 + 3 * widest * FLOAT32
    grid = grid_points(spec)
    sampler = 0
    if grid is not None:
        sampler = grid * GRID_POINT_BYTES
    elif spec.sampler.type == "gp":
        sampler = GP_MATRIX_COPIES * spec.budget.n_trials**2 * FLOAT64
    iteration = 0.0
    training = spec.training
    if spec.solver == "exact":
        iteration = exact_iteration_flop(shape, train_rows)
        reports = spec.epoch_budget
        evaluation = 2.0 * parameters * val_rows * reports
        flop = members * (
            training.max_iter * iteration + evaluation + _exact_setup(shape, rows=train_rows)
        )
    else:
        reports = training.max_epochs
        flop = 6.0 * parameters * train_rows * training.max_epochs * members
    return Cost(
        grid_points=grid,
        parameters=parameters,
        members=members,
        train_rows=train_rows,
        val_rows=val_rows,
        memory={
            "data": data,
            "model": model,
            "activations": activations,
            "path": path,
            "sampler": sampler,
        },
        flop=flop,
        iteration_flop=iteration,
        reports=reports,
    )


def _minibatch_model(spec: StudySpec, *, members: int, parameters: int) -> int:
    """Bytes of the minibatch trainer's models: per member, weights, gradients, the optimizer's
    state (Adam's two moments, SGD's momentum), the restored best epoch, the L2 term's squares."""
    optimizer_copies = 2 if spec.training.optimizer == "adam" else 1
    stop = spec.training.early_stopping
    best_copy = 1 if stop and stop.restore_best else 0
    return members * parameters * FLOAT32 * (3 + optimizer_copies + best_copy)


EXACT_PARAMETER_COPIES = 9
"""Parameter-sized float64 tensors of one fold under the exact solver (``fista.Fista``): the
point, the one before (the momentum), the extrapolated one, the gradient, the next point, its
step and its soft-thresholding, the ridge's term, and the float32 model mirroring them."""
EXACT_GRAM_COPIES = 4
"""Least squares, d × d float64 matrices of one fold: the Gram matrix (kept with the fold), the
Hessian (it plus the ridge), and two more while its largest eigenvalue is found or the relaxed
fit is made."""
EXACT_ROW_COPIES = 3
"""Cross-entropy, training rows × outputs float64 tensors each fold keeps beside its design: the
one-hot target, the logits of the point and those of the one before (the momentum's)."""
EXACT_ITERATION_ROW_COPIES = 5
"""The same, made in an iteration of one fold at a time: the extrapolated point's logits, the
probabilities, the next point's logits, their difference and its expm1."""
NEWTON_UNKNOWNS = 400
"""The most weights and intercepts a cross-entropy λ path solves for by Newton's method on a
support (``worker.trainers.newton.MAX_UNKNOWNS``): every intercept is one, so the support spans
at most ``NEWTON_UNKNOWNS + 1 - outputs`` columns of the design, its intercept's among them."""


def _exact_memory(
    spec: StudySpec, shape: DataShape, *, members: int, parameters: int, train_rows: int
) -> tuple[int, int, int]:
    """(model, activations, path) bytes of one trial under the exact solver, which is
    full-batch and reads no optimizer, ``batch_size`` or ``restore_best``. Per fold: its float64
    iterates and solutions (a λ path's, one per point), least squares' d × d matrices, the
    cross-entropy's design (every training row, and the intercept's column) and logits of every
    training row. Once, the folds being set up and solved one after another: a fold's rows in
    float64 and their centered copy (least squares) or the copy their spectral norm is computed
    on, or an iteration's logits if more; on a cross-entropy λ path (``path``: what it needs
    beyond those), Newton's system over the support's unknowns (at most ``NEWTON_UNKNOWNS``):
    their columns of every training row, weighted by their class, and their Hessian, as
    ``newton._hessian`` forms it."""
    inputs = shape.features + 1
    model = members * parameters * FLOAT64 * (EXACT_PARAMETER_COPIES + spec.path_points)
    setup = 2 * train_rows * inputs * FLOAT64
    if shape.classes <= 1:  # least squares, through the Gram matrix: no row after the setup
        return model + members * EXACT_GRAM_COPIES * shape.features**2 * FLOAT64, setup, 0
    outputs = shape.outputs
    kept = members * train_rows * (inputs + EXACT_ROW_COPIES * outputs) * FLOAT64
    iteration = EXACT_ITERATION_ROW_COPIES * train_rows * outputs * FLOAT64
    newton = 0
    columns = min(inputs, NEWTON_UNKNOWNS + 1 - outputs)
    if spec.training.lambda_path is not None and columns > 0:
        unknowns = min(outputs * columns, NEWTON_UNKNOWNS)
        # the support's columns of the design, each unknown's column and its weighted copy, and
        # the four m × m products newton._hessian forms over the unknowns alone
        newton = (train_rows * (columns + 2 * unknowns) + 4 * unknowns**2) * FLOAT64
    once = max(setup, iteration)  # gone before Newton's system is made: it counts beyond them
    return model, kept + once, max(newton - once, 0)


def fused_memory(cost: Cost, members: int) -> int:
    """Bytes of ``members`` trials trained in one pass: the data and the sampler once (and a
    λ path's Newton systems, though no path is fused), the model, its optimizer state and the
    activations once per member."""
    memory = cost.memory
    once = memory["data"] + memory["path"] + memory["sampler"]
    return once + members * (memory["model"] + memory["activations"])


def fused_width(spec: StudySpec, shape: DataShape, budget: Budget, *, asked: int) -> int:
    """The most trials of ``spec``, at most ``asked``, that one fused pass may train within
    ``REGTUNE_MAX_TRIAL_MEMORY_MB`` (at least 1: one trial is admitted on its own)."""
    cost = estimate(spec, shape)
    per_member = cost.memory["model"] + cost.memory["activations"]
    room = budget.max_trial_memory_bytes - fused_memory(cost, 0)
    return max(1, min(asked, room // max(per_member, 1)))


def fused_asked(spec: StudySpec, settings: Settings) -> int:
    """Trials of ``spec`` one fused pass asks for: the definition's ``training.fused_trials``,
    else ``REGTUNE_FUSED_TRIALS``; 1 for what the fused trainer does not stack (linear models,
    another objective factory's trials)."""
    default_factory = Settings.model_fields["objective_factory"].default
    if settings.objective_factory != default_factory or spec.model.kind != "mlp":
        return 1
    return spec.training.fused_trials or settings.fused_trials


def slots_per_claim(spec: StudySpec, shape: DataShape, settings: Settings) -> int:
    """Trial slots one worker's claim of ``spec`` takes at most, as ``settings`` make a worker
    take them: a fused pass's members (``fused_asked``, as many as fit
    ``REGTUNE_MAX_TRIAL_MEMORY_MB``), else one (a λ path runs in one slot: its further points
    are reserved budget, not running trials). The autoscaler asks for one worker per this many
    slots (``scheduling.scaling``)."""
    asked = fused_asked(spec, settings)
    if asked < 2:
        return 1
    return fused_width(spec, shape, Budget.from_settings(settings), asked=asked)


def _outputs(shape: DataShape) -> int:
    return shape.classes if shape.classes > 2 else 1


def exact_iteration_flop(shape: DataShape, train_rows: int) -> float:
    """One FISTA iteration (``regtune.worker.trainers.fista``): regression works through the d × d
    Gram matrix (two products with it); classification makes three products with X (rows ×
    (features + 1) × outputs): the image, the gradient and one backtracking try."""
    if shape.classes <= 1:
        return 4.0 * shape.features**2
    return 6.0 * train_rows * (shape.features + 1) * shape.outputs


def _exact_setup(shape: DataShape, *, rows: int) -> float:
    """Before the first iteration: the Gram matrix and its eigenvalues, or X's spectral norm."""
    d = shape.features + 1
    return 2.0 * rows * d * d + 10.0 * d**3


def batch_norm_possible(spec: StudySpec) -> bool:
    """Whether a trial may train with batch norm: ``model.batch_norm``, unless
    ``search_space.batch_norm`` sets or searches it."""
    if spec.model.kind != "mlp":
        return False
    searched: Any = spec.search_space.batch_norm
    if searched is None:
        return spec.model.batch_norm
    return bool(max(searched.values) >= 1.0)
