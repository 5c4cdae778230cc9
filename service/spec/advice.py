"""Warnings about a valid definition: what it asks for runs as given, but does not do what its
author most likely meant, each rule measured by running such a study (README, "Warnings").

A pure function of the admitted definition, so a stored study shows the same warnings whenever
it is read (``GET /v1/studies/{id}``, ``regtune show``) as when it was created.
"""

from __future__ import annotations

from collections.abc import Callable

from regtune.service.spec.definition import StudySpec
from regtune.service.spec.policies import (
    CmaEsSampler,
    HyperbandPruner,
    InnerPruner,
    MedianPruner,
    NoPruner,
    PatientPruner,
    SuccessiveHalvingPruner,
    ThresholdPruner,
)
from regtune.service.spec.space import ARCHITECTURE, Choices, Range
from regtune.service.spec.training import EXACT_IGNORES, default_exact_pruner, default_pruner
from regtune.service.spec.words import counted


def warnings_of(spec: StudySpec) -> list[str]:
    """Each rule's warning that applies, as ``field: what happens; what to do``."""
    rules: list[Callable[[StudySpec], str | None]] = [
        _patience,
        _late_decision,
        _threshold_on_the_good_side,
        _unused_pruner,
        _unlearned_choices,
        _stop_never_met,
        _one_se_without_path,
        _nothing_searched,
        _other_trainers_settings,
        _momentum_without_sgd,
    ]
    return [warning for rule in rules if (warning := rule(spec)) is not None]


def _patience(spec: StudySpec) -> str | None:
    """A patient pruner alone prunes a trial once its metric has not improved for
    ``patience + 1`` epochs; where early stopping would wait longer (or is off), the trials
    that plateau end PRUNED, never the best trial, instead of completing with their best
    epoch's weights (diabetes MLP, 12 trials, early stopping patience 5: pruner patience 1
    pruned 11, patience 4 pruned 10, patience 5 none)."""
    pruner = spec.pruner
    if not isinstance(pruner, PatientPruner) or pruner.wrapped is not None:
        return None
    if spec.solver != "minibatch":  # early stopping applies to the minibatch trainer only
        return None
    patience, stop = pruner.patience, spec.training.early_stopping
    plateau = f"{counted(patience + 1, 'epoch')} without improvement"
    if stop is None:
        return (
            f"pruner.patience: a patient pruner without a wrapped pruner prunes every trial "
            f"after {plateau}, and training.early_stopping is null, so trials that plateau "
            "end PRUNED and can never be the best trial; give training.early_stopping "
            f"{{patience: {patience + 1}}} and pruner {{type: none}} (early stopping keeps a "
            "trial's best epoch and completes it), or a wrapped pruner (pruner.wrapped)"
        )
    if patience >= stop.patience:
        return None
    return (
        f"pruner.patience: {patience} is shorter than training.early_stopping.patience "
        f"{stop.patience}: the patient pruner prunes a trial after {plateau}, before early "
        f"stopping would stop it after {stop.patience} and keep its best epoch, so trials that "
        f"plateau end PRUNED and can never be the best trial; give pruner.patience "
        f"{stop.patience} or more, or pruner {{type: none}} to leave plateaus to early stopping"
    )


def _late_decision(spec: StudySpec) -> str | None:
    """A pruner whose first decision comes at or after a trial's last reported epoch saves no
    training: it can only mark trials that ran to the end PRUNED (diabetes MLP, 12 trials of
    40 epochs: median warm-up 40 pruned 1, successive halving min_resource 40 pruned 7,
    hyperband 9, every one at epoch 40); one whose first decision comes after the last never
    prunes. The default pruner, which the definition did not ask for, is warned only where a
    pruner could decide before a trial's last epoch, with the warm-up that lets it."""
    if spec.training.lambda_path is not None:  # a λ path's points are never pruned
        return None
    pruner, where = spec.pruner, "pruner"
    if isinstance(pruner, PatientPruner):
        if pruner.wrapped is None:
            return None
        pruner, where = pruner.wrapped, "pruner.wrapped"
    decision = _first_decision(pruner)
    budget = spec.epoch_budget
    if decision is None or decision[2] < budget:
        return None
    startup = getattr(pruner, "n_startup_trials", 0)
    if startup >= spec.budget.n_trials:  # it prunes no trial of this budget, early or late
        return None
    field, given, first = decision
    default = spec.pruner == default_pruner(spec.solver)
    if default and budget == 1:  # no pruner stops a trial of one epoch before its end
        return None
    unit = "epoch" if spec.solver == "minibatch" else "block"
    reports = (
        f"the {counted(budget, 'epoch')} a trial reports (training.max_epochs)"
        if unit == "epoch"
        else f"the {counted(budget, 'block')} of iterations a trial reports (training.max_iter "
        "/ training.report_every)"
    )
    never = first > budget
    at = f"after {reports}" if never else f"the {'end' if budget == 1 else 'last'} of {reports}"
    so = (
        "so it never prunes a trial"
        if never
        else "so it saves no training, and a trial it prunes there ran to the end yet ends "
        "PRUNED, never the best trial"
    )
    decides = f"from {unit} {first} on, {at}" if never else f"only at {at}"
    if default:
        return (
            f"pruner: the default pruner (median, n_warmup_steps {given}) decides {decides}, "
            f"{so}; give pruner {{n_warmup_steps: {budget - 1}}} for it to decide at {unit} "
            f"{budget - 1}, or pruner {{type: none}}"
        )
    said = f"{given} lets the {pruner.type} pruner decide {decides}"
    fix = f"give {where}.{field} {_early_enough(budget, unit)}"
    if isinstance(pruner, SuccessiveHalvingPruner) and pruner.min_early_stopping_rate > 0:
        field, rung, fix = _first_rung(pruner, where=where, unit=unit, at=first, budget=budget)
        said = f"{rung}, {at}"
    if budget == 1:
        fix = f"no pruner stops a trial of 1 {unit} before its end: give pruner {{type: none}}"
    else:
        fix += ", or pruner {type: none}"
    return f"{where}.{field}: {said}, {so}; {fix}"


def _early_enough(budget: int, unit: str, *, note: str = "") -> str:
    """A first decision that leaves training to save, for trials of ``budget`` epochs (blocks):
    a few where that is well below ``budget``, else any before the last (``note`` said after)."""
    if budget >= 10:
        return f"well below {budget} (a few {unit}s{'; ' + note if note else ''})"
    return f"at most {budget - 1}{f' ({note})' if note else ''}"


def _first_rung(
    pruner: SuccessiveHalvingPruner, *, where: str, unit: str, at: int, budget: int
) -> tuple[str, str, str]:
    """A successive-halving pruner's first rung, ``min_resource × reduction_factor ^
    min_early_stopping_rate`` (``at``, in ``unit``s), as the field to blame (the rate when
    ``min_resource`` alone is early enough), what its settings make and what to give instead."""
    resource, factor, rate = (
        pruner.min_resource,
        pruner.reduction_factor,
        pruner.min_early_stopping_rate,
    )
    field, given = (
        ("min_early_stopping_rate", rate)
        if isinstance(resource, int) and resource < budget
        else ("min_resource", resource)
    )
    rung = (
        f"{given} puts the successive_halving pruner's first rung at {unit} {at} (min_resource "
        f"{resource} × reduction_factor {factor} ^ min_early_stopping_rate {rate})"
    )
    note = f"{where}.min_early_stopping_rate 0 puts it at min_resource"
    fix = f"lower them until the first rung is {_early_enough(budget, unit, note=note)}"
    return field, rung, fix


def _threshold_on_the_good_side(spec: StudySpec) -> str | None:
    """Optuna's threshold pruner prunes a trial whose value falls below ``lower`` or rises above
    ``upper``, whatever the study's direction: ``lower`` on a minimized metric (``upper`` on a
    maximized one) prunes the trials doing best, which then end PRUNED and can never be the best
    trial (diabetes MLP, 8 trials of val_loss, the same seed: with ``lower: 0.28`` the three
    trials that reached it were pruned, the three best without a pruner, and the best trial's
    value went from 0.2711 to 0.2806)."""
    if spec.training.lambda_path is not None:  # a λ path's points are never pruned
        return None
    pruner, where = spec.pruner, "pruner"
    if isinstance(pruner, PatientPruner) and pruner.wrapped is not None:
        pruner, where = pruner.wrapped, "pruner.wrapped"
    if not isinstance(pruner, ThresholdPruner):
        return None
    metric, direction = spec.objective.metric, spec.objective.direction
    if direction == "minimize":
        field, bound, side, other = "lower", pruner.lower, "below", "upper"
    else:
        field, bound, side, other = "upper", pruner.upper, "above", "lower"
    if bound is None:
        return None
    return (
        f"{where}.{field}: the threshold pruner prunes a trial once its {metric} is {side} "
        f"{bound:g}, and {metric} is {direction}d here, so it prunes the trials doing best: they "
        f"end PRUNED and can never be the best trial; give {where}.{other} instead to prune "
        "the trials doing worst"
    )


def _unused_pruner(spec: StudySpec) -> str | None:
    """A λ path's points are never pruned (a path stops by itself once its validation metric
    has not improved for ``lambda_path.patience`` λ values), so a pruner given to a path study
    is never asked (diabetes, 40 path trials with hyperband: 40 COMPLETE, the same trials as
    with ``pruner: {type: none}``). The default pruner is not warned: it is there for
    ``lambda_path: null``."""
    pruner = spec.pruner
    if spec.training.lambda_path is None or isinstance(pruner, NoPruner):
        return None
    if pruner == default_exact_pruner():
        return None
    return (
        f"pruner: λ paths run here (linear model, exact solver, lambda a range), and a path's "
        f"points are never pruned: each path stops by itself after "
        f"training.lambda_path.patience λ values without improvement, so the {pruner.type} "
        "pruner is never asked; leave the pruner out, or give training.lambda_path null to "
        "run one trial per claim, pruned by it"
    )


def _unlearned_choices(spec: StudySpec) -> str | None:
    """Optuna's CMA-ES samples only numeric ranges; a categorical knob (``{choices: [...]}``,
    ``hidden_layers``) it leaves to its independent sampler, a random one, for every trial, so
    the study never learns which choice is better (diabetes, 40 trials with l1_ratio among 0,
    0.5 and 1, seeds 1-3: trials 10-39 took the best choice, 0, 11, 8 and 12 times of 30 under
    CMA-ES, 22, 21 and 21 under TPE)."""
    if not isinstance(spec.sampler, CmaEsSampler):
        return None
    space = spec.search_space
    names = [
        name
        for name, param in space.searched()
        if isinstance(param, Choices) and len(param.choices) > 1
    ]
    if space.hidden_layers is not None:
        names.append(ARCHITECTURE)
    if not names:
        return None
    fields = ", ".join(f"search_space.{name}" for name in names)
    return (
        f"sampler.type: cmaes samples only ranges; {fields} (choices) it draws at random for "
        "every trial, never learning which choice is better; give sampler {type: tpe} (or gp), "
        "or search a range instead of choices"
    )


METRIC_BOUNDS = {
    "val_r2": 1.0,
    "val_accuracy": 1.0,
    "val_auc": 1.0,
    "val_loss": 0.0,
    "val_rmse": 0.0,
}
"""The best value each metric can take: at most 1 (maximized), at least 0 (minimized)."""


def _stop_never_met(spec: StudySpec) -> str | None:
    """A stop rule that cannot end the study before its budget: patience trials in a row
    cannot pass within ``n_trials`` that are all the study runs, and a goal beyond the best
    value its metric can take is never reached."""
    stop, n_trials = spec.budget.stop, spec.budget.n_trials
    if stop is None:
        return None
    if stop.value is not None:
        metric, direction = spec.objective.metric, spec.objective.direction
        bound = METRIC_BOUNDS[metric]
        if (stop.value > bound) if direction == "maximize" else (stop.value < bound):
            side = "at most" if direction == "maximize" else "at least"
            return (
                f"budget.stop.value: {stop.value:g} is never reached: {metric} is {side} "
                f"{bound:g}, so the study runs its whole budget; give a goal its trials can "
                "reach, or leave value out"
            )
    if stop.patience is not None and stop.patience >= n_trials:
        return (
            f"budget.stop.patience: {stop.patience} is not below budget.n_trials {n_trials}: "
            "the budget is spent before that many trials in a row can pass without improving "
            "the best value, so the rule never stops the study; give a patience well below "
            "n_trials, or leave it out"
        )
    return None


def _one_se_without_path(spec: StudySpec) -> str | None:
    """``objective.select: one_se`` looks for a larger λ only among the trials at the best
    trial's other parameters, its λ path (README, "The one-standard-error rule"). Without λ
    paths, a knob searched over a continuous range gives every trial values of its own, so no
    other trial is on the best's path and one_se keeps the best trial (diabetes, linear, 160
    trials, 5 folds, l1_ratio a range, TPE seeds 1-3: with training.lambda_path null one_se
    kept the best trial 3 times of 3; with paths it chose a larger λ twice)."""
    if spec.objective.select != "one_se" or spec.training.lambda_path is not None:
        return None
    ranges = [
        f"search_space.{name}"
        for name, param in spec.search_space.searched()
        if name != "lambda" and isinstance(param, Range) and param.step is None
    ]
    if not ranges:  # λ alone, or choices that trials share: one_se compares those
        return None
    fixed = " and ".join(ranges)
    gives = "(a continuous range) gives" if len(ranges) == 1 else "(continuous ranges) give"
    reason = spec.no_path_because()
    why = "training.lambda_path is null" if reason is None else f"λ paths need {reason}"
    return (
        f"objective.select: one_se keeps the best trial here: it takes a larger λ only among "
        f"the trials at the best trial's other parameters (its λ path), and this study has no "
        f"λ path ({why}) while {', '.join(ranges)} {gives} every trial values of its own; "
        "for λ paths give a linear model with the exact solver, "
        f"search_space.lambda a range and training.lambda_path left on, or fix {fixed} (every "
        "trial is then on the best's path), or give objective.select best"
    )


def _first_decision(pruner: InnerPruner | NoPruner) -> tuple[str, int, int] | None:
    """The field that sets the first epoch at which ``pruner`` may prune, its value, and that
    epoch (Optuna's pruners: no decision before the warm-up's step, or the first rung)."""
    match pruner:
        case MedianPruner() | ThresholdPruner():  # the percentile pruner is a median one
            return "n_warmup_steps", pruner.n_warmup_steps, max(1, pruner.n_warmup_steps)
        case SuccessiveHalvingPruner() if isinstance(pruner.min_resource, int):
            rung = pruner.min_resource * pruner.reduction_factor**pruner.min_early_stopping_rate
            return "min_resource", pruner.min_resource, rung
        case HyperbandPruner():
            return "min_resource", pruner.min_resource, pruner.min_resource
    return None


def _nothing_searched(spec: StudySpec) -> str | None:
    """Every knob fixed under the exact solver, which is deterministic: each trial trains the
    same model to the same weights (diabetes, ``lambda: 0.05, l1_ratio: 1``, 2 trials: equal to
    the last bit), so a budget of more than one trial buys nothing. The minibatch trainer's
    trials differ by their seeds, and repeating them measures that spread."""
    n = spec.budget.n_trials
    if n < 2 or spec.solver != "exact" or spec.search_space.searched():
        return None
    return (
        f"search_space: every knob is fixed and the exact solver is deterministic, so all {n} "
        "trials train the same model to the same weights; give one knob a range or choices "
        "(search_space.lambda {low, high}, say), or budget.n_trials 1"
    )


def _other_trainers_settings(spec: StudySpec) -> str | None:
    """``training`` settings given a value the study's trainer never reads: the exact solver's
    ``tol``, ``max_iter`` and ``report_every`` under the minibatch trainer (an MLP's only one),
    which runs ``max_epochs`` epochs and reports each; the minibatch trainer's ``max_epochs``,
    ``batch_size``, ``optimizer``, ``momentum``, ``early_stopping`` and ``seed`` under the exact
    solver. Not measured: no trainer reads the other's fields (``worker.objective.train_config``
    hands both over, ``worker.trainers.fit`` runs one). Warned, not refused as a searched
    ``learning_rate`` under the exact solver is: a fixed setting costs no trial, and one
    ``training`` block may serve both trainers. A fixed ``search_space.learning_rate`` or
    ``batch_size`` the definition gave is named alike under the exact solver (was: unread and
    unsaid); their defaults are not."""
    space = spec.search_space.given(EXACT_IGNORES) if spec.solver == "exact" else []
    unread = [f"training.{name}" for name in spec.training.unread(spec.solver)]
    unread += [f"search_space.{name}" for name in space]
    if not unread:
        return None
    fields = ", ".join(unread)
    it, settings = ("them", "settings") if len(unread) > 1 else ("it", "setting")
    if spec.solver == "minibatch":
        linear = spec.model.kind == "linear"
        switch = f", or give training.solver exact to use {it}" if linear else ""
        return (
            f"{fields}: the exact solver's {settings}, which the minibatch trainer this study "
            f"trains with (training.solver minibatch) does not read: it runs training.max_epochs "
            f"({spec.training.max_epochs}) epochs and reports each; leave {it} out{switch}"
        )
    return (
        f"{fields}: the minibatch trainer's {settings}, which the exact solver this study trains "
        "with (training.solver exact) does not read: it solves each fold full-batch and "
        "deterministically to training.tol within training.max_iter iterations, without early "
        f"stopping; leave {it} out, or give training.solver minibatch to use {it}"
    )


def _momentum_without_sgd(spec: StudySpec) -> str | None:
    """``training.momentum`` is SGD's: the minibatch trainer hands it to ``torch.optim.SGD`` (and
    the fused trainer to its SGD step) only, so beside ``optimizer: adam`` it is never read.
    (Under the exact solver ``_other_trainers_settings`` names it.)"""
    training = spec.training
    if spec.solver != "minibatch" or training.optimizer == "sgd" or training.momentum == 0:
        return None
    return (
        f"training.momentum: {training.momentum:g} is SGD's, which optimizer "
        f"{training.optimizer} does not read (Adam keeps its own running averages of the "
        "gradient); give training.optimizer sgd to use it, or leave it out"
    )
