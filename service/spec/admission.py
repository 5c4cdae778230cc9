"""Whether a worker could run a study definition: its estimated cost (``spec.cost``) against
the configured budget, and its data's shape against its validation, test split, metric and
batch norm. ``check`` raises one ``InvalidDefinition`` (a 422) naming every field to change;
``problems`` lists them, and an extension's grown budget is said in the extension's terms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from regtune.service.errors import FieldProblem, InvalidDefinition
from regtune.service.spec.cost import (
    Budget,
    Cost,
    DataShape,
    architecture_field,
    batch_norm_possible,
    estimate,
    fused_memory,
    fused_width,
    splits,
)
from regtune.service.spec.datasets import STRATIFY_MIN
from regtune.service.spec.definition import StudySpec
from regtune.service.spec.objective import objective_names
from regtune.service.spec.space import shown
from regtune.service.spec.words import counted


@dataclass(frozen=True)
class Extension:
    """An extension's terms, in which a grown budget's problems are said: the study's
    ``budget.n_trials`` before it, and the field of the body that grows it (``n_trials``: how
    many more; ``n_trials_total``: the new budget)."""

    before: int
    given_as: Literal["n_trials", "n_trials_total"]


def _grid_exhausted(points: int, n_trials: int, extension: Extension) -> FieldProblem:
    """``_grid_repeats`` for an extension: leaving ``n_trials`` out is no extension, and the
    caller's number is how many more (or the new total), so the advice is what may still grow."""
    before, field = extension.before, extension.given_as
    left = max(points - before, 0)
    given = n_trials - before if field == "n_trials" else n_trials
    asked = f"n_trials {given} more" if field == "n_trials" else f"n_trials_total {given}"
    grid = counted(points, "point")
    ran = f"the grid sampler's grid has {grid}, each run once, and budget.n_trials "
    if left == 0:
        every = "its one point" if points == 1 else f"all {points}"
        return FieldProblem(
            field,
            f"{ran}{before} takes {every}: the grid is exhausted, and {asked} would run "
            f"{n_trials - points} of them again, to the same result (submit a new study over "
            "a larger grid)",
        )
    most = f"extend by at most {left} (n_trials ≤ {left})"
    if field == "n_trials_total":
        most = f"extend to at most {points} (n_trials_total ≤ {points})"
    return FieldProblem(
        field,
        f"{ran}{before} takes {before} of them: {left} {'remains' if left == 1 else 'remain'}, "
        f"and {asked} would run "
        f"{n_trials - points} of them again, to the same result: {most}",
    )


def _grid_repeats(points: int, n_trials: int) -> FieldProblem:
    """A grid runs each point once (Optuna's GridSampler then stops the study); a trial is a
    function of its parameters (one ``training.seed`` for all), so a repeat learns nothing."""
    grid = counted(points, "point")
    return FieldProblem(
        "budget.n_trials",
        f"the grid sampler's grid has {grid}, each run once; n_trials {n_trials} "
        f"would run {n_trials - points} of them again, to the same result: give n_trials ≤ "
        f"{points}, or leave it out (the grid's size)",
    )


def _mib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def _memory_field(spec: StudySpec, part: str) -> str:
    if part == "model":
        return architecture_field(spec) if spec.model.kind == "mlp" else "dataset"
    if part == "activations" and spec.solver == "exact":
        return "dataset"  # every training row, whatever training.batch_size says
    if part == "activations":
        return (
            "training.batch_size"
            if spec.training.batch_size != "full"
            else architecture_field(spec)
        )
    if part == "path":
        return "training.lambda_path"
    if part == "sampler":
        return "sampler.type" if spec.sampler.type == "grid" else "budget.n_trials"
    return "dataset"


def problems(
    spec: StudySpec, shape: DataShape, budget: Budget, *, extension: Extension | None = None
) -> list[FieldProblem]:
    """Every reason a worker could not run ``spec``; empty if it fits the budget. With
    ``extension``, ``spec`` is a study's grown definition, and a grid's repeats are said in the
    extension's terms."""
    found: list[FieldProblem] = []
    found += _shape_problems(spec, shape)
    if found:
        return found
    cost = estimate(spec, shape)
    if cost.grid_points is not None and cost.grid_points > budget.max_grid_points:
        found.append(
            FieldProblem(
                "search_space",
                f"the grid sampler would enumerate {cost.grid_points:.3g} points; at most "
                f"{budget.max_grid_points} (REGTUNE_MAX_GRID_POINTS): give fewer choices or a "
                "larger step, or use another sampler",
            )
        )
    if cost.grid_points is not None and spec.budget.n_trials > cost.grid_points:
        n_trials = spec.budget.n_trials
        found.append(
            _grid_repeats(cost.grid_points, n_trials)
            if extension is None
            else _grid_exhausted(cost.grid_points, n_trials, extension)
        )
    if cost.memory_bytes > budget.max_trial_memory_bytes:
        part = max(cost.memory, key=lambda k: cost.memory[k])
        parts = ", ".join(f"{k} {_mib(v)}" for k, v in cost.memory.items() if v)
        found.append(
            FieldProblem(
                _memory_field(spec, part),
                f"one trial needs about {_mib(cost.memory_bytes)} ({parts}; "
                f"{cost.parameters:,} parameters × {cost.members} model(s)); at most "
                f"{_mib(budget.max_trial_memory_bytes)} (REGTUNE_MAX_TRIAL_MEMORY_MB)",
            )
        )
    fused = spec.training.fused_trials or 1
    one_fits = cost.memory_bytes <= budget.max_trial_memory_bytes
    if one_fits and fused > 1 and fused_memory(cost, fused) > budget.max_trial_memory_bytes:
        fit = fused_width(spec, shape, budget, asked=fused)
        found.append(
            FieldProblem(
                "training.fused_trials",
                f"{fused} fused trials need about {_mib(fused_memory(cost, fused))} (data "
                f"{_mib(cost.memory['data'])} once, model and activations "
                f"{_mib(cost.memory['model'] + cost.memory['activations'])} per trial); at most "
                f"{_mib(budget.max_trial_memory_bytes)} (REGTUNE_MAX_TRIAL_MEMORY_MB): give "
                f"fused_trials ≤ {fit}, got {fused}",
            )
        )
    if cost.flop > budget.max_trial_flop:
        found.append(_compute_problem(spec, shape, cost, budget))
    if cost.iteration_flop > budget.max_iteration_flop:
        found.append(
            FieldProblem(
                "training.solver",
                f"one exact-solver iteration needs about {cost.iteration_flop / 1e9:.3g} GFLOP "
                f"({_per_iteration(shape, cost)}); at most {budget.max_iteration_flop / 1e9:g} "
                "GFLOP (REGTUNE_MAX_ITERATION_GFLOP), so that a cancel or a shutdown is seen "
                "within a second: use training.solver minibatch, or fewer rows or features",
            )
        )
    if cost.reports > budget.max_reports:
        exact = spec.solver == "exact"
        given = (
            f"max_iter {spec.training.max_iter:,} / report_every {spec.training.report_every:,}"
            if exact
            else f"max_epochs {spec.training.max_epochs:,}"
        )
        found.append(
            FieldProblem(
                "training.report_every" if exact else "training.max_epochs",
                f"one trial would report {cost.reports:,} epochs ({given}), one learning-curve "
                f"row each; at most {budget.max_reports:,} (REGTUNE_MAX_REPORTS_PER_TRIAL): "
                + (
                    f"report_every ≥ {math.ceil(spec.training.max_iter / budget.max_reports):,}"
                    " or a smaller max_iter"
                    if exact
                    else "fewer epochs"
                ),
            )
        )
    return found


def _per_iteration(shape: DataShape, cost: Cost) -> str:
    if shape.classes <= 1:
        return f"{shape.features:,}² features through the Gram matrix"
    return f"{cost.train_rows:,} rows × {shape.features:,} features × {shape.outputs} outputs"


def _compute_problem(spec: StudySpec, shape: DataShape, cost: Cost, budget: Budget) -> FieldProblem:
    limit = f"at most {budget.max_trial_flop / 1e12:g} TFLOP (REGTUNE_MAX_TRIAL_TFLOP)"
    if spec.solver == "exact":
        return FieldProblem(
            "training.max_iter",
            f"one trial needs about {cost.flop / 1e12:.3g} TFLOP (max_iter "
            f"{spec.training.max_iter:,} iterations × {cost.iteration_flop / 1e9:.3g} GFLOP "
            f"per iteration ({_per_iteration(shape, cost)}) × {cost.members} model(s)); "
            f"{limit}: a smaller max_iter (a larger tol converges sooner) or fewer folds",
        )
    return FieldProblem(
        "training.max_epochs",
        f"one trial needs about {cost.flop / 1e12:.3g} TFLOP ({cost.parameters:,} "
        f"parameters × {cost.train_rows:,} rows × {spec.training.max_epochs} epochs × "
        f"{cost.members} model(s)); {limit}: fewer epochs, a smaller model or fewer folds",
    )


def _smallest_class_left(spec: StudySpec, shape: DataShape) -> int | None:
    """Rows of the smallest class left after the (stratified) test split, rounded down."""
    if shape.smallest_class is None or shape.classes < 2:
        return None
    return math.floor(shape.smallest_class * (1 - spec.validation.test_fraction))


def _shape_problems(spec: StudySpec, shape: DataShape) -> list[FieldProblem]:
    """Rules that need the data's size: enough rows (and members of each class) for the folds,
    batches batch norm can use."""
    found: list[FieldProblem] = []
    _, train_rows, val_rows, rest = splits(spec, shape.rows)
    folds = spec.validation.folds
    smallest = _smallest_class_left(spec, shape)
    if folds and folds > rest:
        found.append(
            FieldProblem(
                "validation.folds",
                f"{folds} folds need at least {folds} rows outside the test split; the dataset "
                f"has {shape.rows} rows and {rest} of them are left after the test split",
            )
        )
    elif folds and smallest is not None and folds > smallest:
        where, left = (
            (" outside the test split", f" and about {smallest} of them are left after it")
            if spec.validation.test_split
            else ("", " (no test split: validation.test_fraction 0)")
        )
        members = shape.smallest_class
        if smallest >= 2:
            instead = f"use at most {smallest} folds or a holdout"
        elif members is not None and members >= 2:
            instead = (
                f"use a holdout, or no test split (validation.test_fraction 0) and at most "
                f"{members} folds"
            )
        else:
            instead = "no number of folds can hold it in every fold: use a holdout"
        found.append(
            FieldProblem(
                "validation.folds",
                f"{folds} stratified folds need at least {folds} rows of every class{where}; "
                f"the smallest class has {members} row{'' if members == 1 else 's'}{left}: "
                f"{instead}",
            )
        )
    elif train_rows < 2 or val_rows < 1:
        found.append(
            FieldProblem(
                "validation",
                f"the splits leave {train_rows} training and {val_rows} validation rows of "
                f"{shape.rows}; lower validation.test_fraction or the holdout",
            )
        )
    elif stratified := _stratified_split_problems(spec, shape):
        found += stratified
    elif "val_r2" in objective_names(spec) and (fewest := _smallest_validation(spec, rest)) < 2:
        where = "validation.folds" if folds else "validation.holdout"
        most = f"use at most {rest // 2} folds" if folds else "use a larger holdout"
        found.append(
            FieldProblem(
                where,
                "val_r2 needs at least 2 validation rows in every fold (the R² of one row is "
                f"undefined: every trial would score the worst value); the splits leave {fewest} "
                f"of the {rest} rows: {most}, or another metric",
            )
        )
    elif "val_auc" in objective_names(spec) and not folds and smallest is not None:
        found += _auc_holdout_problems(spec, shape, smallest)
    if batch_norm_possible(spec):
        found += _batch_norm_problems(spec)
    return found


def _stratified_split_problems(spec: StudySpec, shape: DataShape) -> list[FieldProblem]:
    """A split stratified by class puts a row of each class on each side, so each side needs
    at least one row per class (the worker's ``shuffle_split`` refuses it otherwise, and every
    trial would fail): the test split of every row, then a holdout of the rest (the smallest
    class's rows left after the test split, rounded down, decide whether it is stratified)."""
    if shape.classes < 2 or shape.smallest_class is None:
        return []
    found: list[FieldProblem] = []
    validation, k = spec.validation, shape.classes
    test_fraction = validation.test_fraction
    n_test = math.ceil(shape.rows * test_fraction)
    rest = shape.rows - n_test
    if test_fraction > 0 and shape.smallest_class >= STRATIFY_MIN and min(n_test, rest) < k:
        fix = (
            f"a test_fraction of at least {math.ceil(100 * k / shape.rows) / 100:g}, or 0 (no "
            "test split)"
            if n_test < k
            else "a smaller test_fraction"
        )
        found.append(
            FieldProblem(
                "validation.test_fraction",
                f"the test split is stratified by class, so it and the rows left need at least "
                f"one row of each of the {k} classes; test_fraction {test_fraction:g} of "
                f"{shape.rows} rows splits them {rest} / {n_test}: {fix}",
            )
        )
        return found
    left = _smallest_class_left(spec, shape)
    if validation.folds or left is None or left < STRATIFY_MIN:
        return found
    holdout = validation.holdout or 0.2
    n_val = math.ceil(rest * holdout)
    if min(n_val, rest - n_val) < k:
        fix = (
            f"a holdout of at least {math.ceil(100 * k / rest) / 100:g}, or folds"
            if n_val < k
            else "a smaller holdout, or folds"
        )
        found.append(
            FieldProblem(
                "validation.holdout",
                f"the holdout is stratified by class, so it and the training rows need at "
                f"least one row of each of the {k} classes; a holdout of {holdout:g} of the "
                f"{rest} rows left after the test split splits them {rest - n_val} / {n_val}: "
                f"{fix}",
            )
        )
    return found


def _auc_holdout_problems(spec: StudySpec, shape: DataShape, smallest: int) -> list[FieldProblem]:
    """The AUC of a holdout without both classes is undefined (every trial would score NaN and
    the study end with no best model): the smallest class, ``smallest`` rows left after the
    test split (rounded down), must stratify (3 rows) and get a validation row
    (``smallest · holdout ≥ 1``)."""
    holdout = spec.validation.holdout or 0.2
    if smallest >= 3:
        if smallest * holdout >= 1:
            return []
        fix = f"a holdout of at least {math.ceil(100 / smallest) / 100:g}"
    else:
        fix = "more rows of that class"
    left = (
        f" and about {smallest} of them are left after the test split"
        if spec.validation.test_split
        else ""
    )
    return [
        FieldProblem(
            "validation.holdout",
            f"val_auc needs rows of both classes in the holdout (the AUC of one class is "
            f"undefined: every trial would score NaN); the smallest class has "
            f"{shape.smallest_class} rows{left}, and a holdout of {holdout:g} can leave it none: "
            f"{fix}, folds, or another metric",
        )
    ]


def _smallest_validation(spec: StudySpec, rest: int) -> int:
    """Rows of the smallest validation fold (or the holdout) of ``rest`` rows."""
    if spec.validation.folds:
        return rest // spec.validation.folds
    return math.ceil(rest * (spec.validation.holdout or 0.2))


def _batch_norm_problems(spec: StudySpec) -> list[FieldProblem]:
    """Batch norm cannot train on one row (its variance is undefined): every step is skipped."""
    rule = (
        "batch_norm (model.batch_norm or search_space.batch_norm) needs batches of at least 2 "
        "rows (a batch of one has no variance, so nothing would train); use batch_size ≥ 2 or "
        "batch_norm: false"
    )
    searched = spec.search_space.batch_size
    if searched is not None:
        if min(searched.values) < 2:
            got = shown(searched, lambda size: size < 2)
            return [FieldProblem("search_space.batch_size", f"{rule}, got {got}")]
        return []
    if spec.training.batch_size != "full" and spec.training.batch_size < 2:
        return [FieldProblem("training.batch_size", f"{rule}, got {spec.training.batch_size}")]
    return []


def check(
    spec: StudySpec, shape: DataShape, budget: Budget, *, extension: Extension | None = None
) -> None:
    """Raise ``InvalidDefinition`` (a 422) naming every field whose cost is over the budget
    (``extension``: as ``problems`` says them)."""
    found = problems(spec, shape, budget, extension=extension)
    if found:
        message = "; ".join(f"{p.path}: {p.rule}" for p in found)
        raise InvalidDefinition(message, fields=found)
