"""A study's summary (counts, chosen trial, Pareto set, saved model) and when it settled."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from optuna.trial import TrialState
from sqlalchemy.orm import Session

from regtune.service.spec.definition import StudySpec
from regtune.service.spec.enums import FINAL, StudyStatus
from regtune.service.spec.objective import Select, objective_directions
from regtune.service.store.reads import read
from regtune.service.store.repos import missing_models
from regtune.service.store.repos.studies import definition_of, index_key, model_info, quiet
from regtune.service.store.tables import StudyRow
from regtune.service.store.trials import views as trial_reads
from regtune.service.store.trials.best import pareto_numbers
from regtune.service.store.trials.failures import Failures


def settled(row: StudyRow) -> bool:
    """Ended with nothing more to come: failed or cancelled, or completed with its best model
    saved (a worker saves it just after the end) or with no best trial to save one of: none
    completed, or the worker said why those that did give no model (the study's ``error``,
    written just after the end, as a model would be)."""
    if row.status not in FINAL:
        return False
    if row.status != StudyStatus.COMPLETED:
        return True
    summary = summarize(row)
    if summary.best is None:
        said = row.error is not None and missing_models.is_model_error(row.error)
        return said or not summary.counts.get(TrialState.COMPLETE.name)
    return summary.best_model is not None


@dataclass
class StudySummary:
    row: StudyRow
    counts: dict[str, int]
    best: trial_reads.TrialView | None
    best_test_metrics: dict[str, Any] | None
    """The best trial's own test metrics (its models, trained on its training rows)."""
    pareto: list[trial_reads.TrialView] | None = None
    best_model: dict[str, Any] | None = None
    best_refit_test_metrics: dict[str, Any] | None = None
    """The saved model's, when it is the best trial's configuration retrained (the refit)."""
    validation: str = ""
    """The scheme the trials were validated with (``5-fold``, ``holdout 0.2``)."""
    validation_chosen_by: str = "definition"
    select: Select = "best"
    """``objective.select``: how ``best`` was chosen."""
    select_note: str | None = None
    """Why ``best`` is not the best value's trial (``objective.relax_margin``, ``one_se``): the
    trials and standard errors the choice measured."""
    stopped_early: int = 0
    """COMPLETE trials that early stopping ended (``training.early_stopping``)."""
    failures: Failures = field(default_factory=Failures)
    """What became of the FAIL trials: interrupted and run again, never run, failed."""


PARETO_LIMIT = 500


def summarize(row: StudyRow, *, spec: StudySpec | None = None) -> StudySummary:
    """Counts, best feasible trial, Pareto set (several objectives) and the saved best model.

    ``spec`` is the row's definition when the caller has it already (a request parses a stored
    definition at most once).
    """
    spec = definition_of(row, spec)
    directions = objective_directions(spec)
    select_rule = spec.objective.select
    osid = row.optuna_study_id or -1

    def reads(session: Session) -> tuple[Any, ...]:
        counts, best, note = trial_reads.study_reads(
            session,
            osid,
            key=index_key(row),
            direction=directions[0],
            quiet=quiet(row),
            select=select_rule,
            relax_margin=spec.objective.relax_margin,
        )
        stopped_early = trial_reads.stopped_early(session, osid, key=index_key(row))
        failures = trial_reads.failures(osid, key=index_key(row))
        pareto = None
        if len(directions) > 1:
            numbers = pareto_numbers(session, osid, directions)
            pareto = trial_reads.list_trials(
                session, osid, numbers=numbers[:PARETO_LIMIT], limit=PARETO_LIMIT
            )
        return counts, best, note, stopped_early, failures, pareto, model_info(session, row)

    counts, best, note, stopped_early, failures, pareto, model = read(reads)
    if model is not None and model.get("test_metrics") == {}:  # saved before: no test split
        model = {**model, "test_metrics": None}
    test_metrics = refit_metrics = None
    if best is not None:
        test_metrics = {
            k.removeprefix("test_"): v for k, v in best.user_attrs.items() if k.startswith("test_")
        } or None
        if model is not None and model.get("trial") == best.number:
            refit_metrics = model["test_metrics"]  # what the downloadable model scores
    return StudySummary(
        row=row,
        counts=counts,
        best=best,
        best_test_metrics=test_metrics,
        pareto=pareto,
        best_model=model,
        best_refit_test_metrics=refit_metrics,
        validation=spec.validation.scheme,
        validation_chosen_by=spec.validation.chosen_by or "definition",
        select=select_rule,
        select_note=note,
        stopped_early=stopped_early,
        failures=failures,
    )
