"""A study's best model and best trial as the client speaks of them: whether a completed
study's model is still to come (a worker saves it just after the end), why a study has none,
and what a wait for it that gave up saw last."""

from __future__ import annotations

from regtune.service.api.schemas.studies import StudyOut
from regtune.service.spec.enums import ACTIVE, FINAL, StudyStatus

MODEL_TYPES = ("application/vnd.regtune.model+safetensors", "application/octet-stream")
"""The types the API sends a best model as (``Accept`` chooses): an answer of any other type is
not the model, but what stands in the API's place (a captive portal's page, a proxy's)."""

VERDICT_GRACE = 15.0
"""Seconds ``Client.wait`` waits for the word of a completed study none of whose trials
completed (all pruned or failed): the worker whose finish completed it says why it has no model
at once, with nothing to retrain, and an idle worker's catch-up says it within a sweep
(``REGTUNE_SWEEP_INTERVAL``) of a study that completed otherwise (the sweep released its last
slot, its deadline passed with no trial running); with no worker left to say it, the wait ends
after this."""


def awaits_model(study: StudyOut) -> bool:
    """Completed, and its model is not saved yet: it has a best trial, or none (its trials all
    diverged, were infeasible, pruned or failed) and the worker has not yet said so in the
    study's ``error`` (it does just after the end, as it would save a model; for a study with
    no COMPLETE trial, with nothing to retrain, within ``VERDICT_GRACE``)."""
    if study.status != StudyStatus.COMPLETED or study.best_model is not None:
        return False
    return study.best_trial is not None or study.error is None


def wait_timed_out(study: StudyOut, timeout: float) -> str:
    """Why ``Client.wait`` gave up: which it waited for, the study's end or, once it
    completed, its best model (saved just after, by a worker), and how it saw the study last."""
    p = study.progress
    seen = f"last seen {study.status}, {p.done}/{p.n_trials} trials done, {p.running} running"
    if awaits_model(study):
        doing = (
            f"retrains best trial #{study.best_trial.number}"
            if study.best_trial
            else "says why its trials give no model"
        )
        return (
            f"study {study.id} has completed, but its best model was not saved within "
            f"{timeout}s (a worker {doing} once the study completes; is one running?): {seen}, "
            "no best model yet"
        )
    return f"study {study.id} did not end within {timeout}s: {seen}"


def no_model(study: StudyOut) -> str | None:
    """Why ``study`` has no saved best model, or None if it has one: a model is saved only when
    a study completes (with a best trial), by a worker, just after it does."""
    if study.best_model is not None:
        return None
    if study.best_trial is None:
        return no_best_trial(study)
    if study.status in ACTIVE:
        return (
            f"study {study.id} has no saved model yet (status {study.status}): one is saved "
            "when the study completes, from its best trial then; the trial shown is the best "
            "so far"
        )
    if study.status == StudyStatus.COMPLETED:
        if study.error:
            return f"study {study.id} has no saved model: {study.error}"
        return (
            f"study {study.id} has completed and its best model is not saved yet: the worker "
            "that completed it retrains the best trial, or, if that worker stopped or died, "
            "an idle worker does once its grace period (REGTUNE_GRACE_PERIOD) has passed; ask "
            "again in a moment"
        )
    ended = "was cancelled" if study.status == StudyStatus.CANCELLED else "failed"
    why = f" ({study.error})" if study.error else ""
    return (
        f"study {study.id} has no saved model: it {ended}{why}, and a model is saved only "
        "when a study completes; the trial shown is its best"
    )


def no_best_trial(study: StudyOut) -> str:
    """Why ``study`` has no best trial, in words that fit it: none has completed (yet, or ever,
    once the study has ended), or those that did are all infeasible or have no finite value."""
    complete = study.counts.get("COMPLETE", 0)
    if not complete:
        when = "yet" if study.status not in FINAL else f"(status {study.status})"
        return f"study {study.id} has no completed trial {when}"
    limit = (study.definition.get("objective") or {}).get("max_nonzero")
    why = (
        f"meets objective.max_nonzero ({limit}) with a finite value"
        if limit is not None
        else "has a finite value"
    )
    return f"study {study.id} has no best trial: none of its {complete} COMPLETE trials {why}"
