"""The report's words: the notes under its figures, the numbers as the page shows them, and why
a study has or has no saved model."""

from __future__ import annotations

import math
from typing import Any

from regtune.service.api import report_figures as figures
from regtune.service.api import report_paths as paths
from regtune.service.spec.enums import ACTIVE, StudyStatus
from regtune.service.spec.words import counted
from regtune.service.store.trials.coefficients import MAX_COEFFICIENTS
from regtune.service.store.trials.report import ReportData


def entry_note(data: ReportData, direction: str) -> str:
    """The order in which inputs enter the path, from large λ to small (glmnet's story)."""
    order = paths.entries(paths.path_trials(data, direction))
    shown = ", ".join(f"{name} (λ={lam:.3g})" for name, lam in order[: paths.PATH_INPUTS])
    extra = len(order) - paths.PATH_INPUTS
    more = f" and {extra} more" if extra > 0 else ""
    which = (
        "the one nearest the best trial's l1_ratio"
        if data.best is not None
        else "the one of the best value (no trial could be chosen: each is over "
        "objective.max_nonzero or diverged)"
    )
    return (
        f" Coefficient path: one trial per λ bin, {which}; a circle marks where an input "
        f"enters. Inputs enter, from large λ to small: {shown}{more}."
    )


def path_notes(
    data: ReportData,
    *,
    coefficients: bool,
    sparsity: bool,
    curve: bool,
    multiclass: bool,
    saved: bool,
) -> str:
    """The page's notes on the regularization path, each only beside a figure it is about: what
    the path draws (``coefficients``: the weights the trials stored; ``sparsity``: their
    non-zero counts), or why nothing is drawn against those counts; what the validation
    ``curve``'s ± 1 SE is. "" where none of them is drawn (a study whose trials were all
    pruned draws only learning curves)."""
    notes = []
    if coefficients:
        notes.append(
            "The coefficient path draws the weights each linear trial stored (its largest "
            f"{MAX_COEFFICIENTS}, rounded"
            + (
                "; for a multiclass model, each input's norm over the classes' weights, never "
                "negative)"
                if multiclass
                else ")"
            )
            + ("; the coefficients are the saved model's." if saved else ".")
        )
    elif sparsity:
        notes.append(
            "No trial stored its weights by input (an MLP, or trials written before they were): "
            "the path shows each trial's non-zero weights."
        )
    elif data.points and not figures.sparsity_varies(data):
        notes.append(
            "Every trial kept the same number of non-zero weights (no weight reached zero: an "
            "MLP without L1, say), so nothing is plotted against them."
        )
    if curve:
        notes.append(
            "± 1 SE: the standard error across each trial's folds, averaged over a λ bin."
            if paths.folds_known(data.band)
            else "± 1 SE: the spread of the trials within a λ bin (a holdout has no folds)."
        )
    return " ".join(notes)


def infeasible_search(data: ReportData) -> str:
    """What the search's figures do with the sampled trials over ``objective.max_nonzero``;
    "" if there are none."""
    n = figures.infeasible(data)
    if not n:
        return ""
    return (
        f"Grey dots: {_over(n)} over objective.max_nonzero (infeasible: never the best, as "
        "Optuna draws them); the best value line and the importances leave them out."
    )


def infeasible_cells(data: ReportData) -> str:
    """What the best value per cell does with the trials over ``objective.max_nonzero``."""
    n = figures.infeasible(data)
    if not n:
        return ""
    return (
        "Each cell's best value is of the trials within objective.max_nonzero; "
        f"{_over(n)} over it are among the dots, never a cell's best."
    )


def _over(n: int) -> str:
    return "the sampled trial" if n == 1 else f"the {n} sampled trials"


def stopped_early(data: ReportData, max_epochs: int) -> str:
    """How many COMPLETE trials early stopping ended, and after how many epochs; "" if none."""
    stopped, complete = data.stopped, data.counts.get("COMPLETE", 0)
    if not stopped.trials:
        return ""
    after = ""
    if stopped.fewest is not None and stopped.most is not None:
        ran = f"{stopped.fewest}–{stopped.most}" if stopped.fewest != stopped.most else ""
        after = f" after {ran or stopped.fewest} of training.max_epochs {max_epochs} epochs"
    of = (
        "1 COMPLETE trial, the only one,"
        if complete == 1
        else f"{stopped.trials} of the {complete} COMPLETE trials"
    )
    return f"{of} stopped early (training.early_stopping){after}"


def saved_steps(data: ReportData) -> str:
    """The steps the pruner saved: the steps a PRUNED and a COMPLETE trial reported on average,
    over every trial of each (``ReportData.reported``, not the drawn sample) but the COMPLETE
    ones that reported none (``ReportData.silent``: diverged at their first step), their
    difference times the PRUNED trials; "" if either state reported none."""
    complete, pruned = data.reported.get("COMPLETE"), data.reported.get("PRUNED")
    if complete is None or pruned is None or not complete.steps or not pruned.steps:
        return ""
    silent = min(data.silent, complete.trials - 1)
    full, ran, n = complete.steps / (complete.trials - silent), pruned.mean, pruned.trials
    saved = (full - ran) * n
    note = (
        f"{counted(n, 'pruned trial')} stopped after {ran:.1f} reported steps on "
        f"average, against {full:.1f} for complete ones"
    )
    about = f"{saved:,.0f}"
    left_out = (
        f" (not counting the {counted(silent, 'COMPLETE trial')} that reported no step, as a "
        "trial that diverges at its first does)"
        if silent
        else ""
    )
    if saved >= 1:
        return note + f": about {about} step{'' if about == '1' else 's'} saved{left_out}."
    return note + f"{left_out}."


def baseline(task: str, model: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """What a predictor that ignores the inputs scored on the same test rows, as measured when
    the model was saved (none for a model saved before it was)."""
    name = "the training mean" if task == "regression" else "the majority class"
    return name, dict((model or {}).get("baseline_metrics") or {})


def number(value: Any, missing: str | None = "—") -> str | None:
    """A number as the page shows it (a count stored as 1376.0 reads 1376, a mean over folds
    8.6); ``missing`` for none or a non-finite one."""
    if isinstance(value, int | float) and math.isfinite(value):
        return f"{value:.6g}"
    return missing


def params(params: dict[str, Any]) -> str:
    return ", ".join(
        f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in params.items()
    )


def empty(status: str, *, complete: int, pruned: int) -> str:
    """What a page without plots says: a running study's will come, an ended study's never will.
    ``complete``, ``pruned``: its trials in those states. A COMPLETE trial with a finite value is
    always plotted (the search's history), so on such a page every COMPLETE one diverged."""
    active = status in ACTIVE
    if complete:
        diverged = (
            "The one COMPLETE trial diverged (its value is ±inf)"
            if complete == 1
            else f"All {complete} COMPLETE trials diverged (their values are ±inf)"
        )
        if active:
            return f"{diverged}: the plots appear once a trial completes with a finite value."
        return f"{diverged} before the study ended ({status}): there is nothing to plot."
    if active:
        return "No COMPLETE trial yet: the plots appear as trials finish."
    if pruned:
        return (
            f"No trial completed before the study ended ({status}), and the pruned "
            f"{'trial' if pruned == 1 else 'trials'} sampled for the learning curves reported no "
            "finite value: there is nothing to plot."
        )
    return (
        f"No trial completed or was pruned before the study ended ({status}): there is nothing "
        "to plot."
    )


def unsaved(status: str, *, finished: int) -> str:
    """Why a study has no saved model: it has not completed yet, or it never will;
    ``finished``: its trials that ended, in any state."""
    if status == StudyStatus.COMPLETED and not finished:
        return (
            "No model was saved: the study completed before any trial finished (its deadline, "
            "budget.timeout_s, ended it first)."
        )
    match status:
        case StudyStatus.CANCELLED:
            return "No model was saved: the study was cancelled before it completed."
        case StudyStatus.FAILED:
            return "No model was saved: the study failed before it completed."
        case StudyStatus.COMPLETED:
            return (
                "No model was saved: the study completed without a COMPLETE trial that has a "
                "finite value and meets its constraints (every trial diverged, was pruned or was "
                "infeasible)."
            )
    return "The best model is saved when the study completes with at least one COMPLETE trial."


def saved_words(model: dict[str, Any] | None, status: str) -> str:
    """How the saved model trained, or why there is none: the end of the report's note on the
    test metrics."""
    if not model:
        return (
            "the model is saved when the study completes."
            if status in ACTIVE
            else "no model was saved (see below)."
        )
    if not model.get("refit"):
        return "the saved model is the best trial's own (refit: false)."
    if model.get("refit_rows") == "all":
        return (
            "the saved model's test metrics are the refit's on every non-test row; the saved "
            "model is the same refit on every row, the test rows too (refit_rows: all)."
        )
    return "the saved model is the refit on every non-test row."
