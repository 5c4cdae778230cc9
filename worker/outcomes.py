"""What becomes of a trial, as the worker records and says it: run once (``optimize_one``), found
finished by a sweep meanwhile, cut off by an outage, failed before it could start, stopped by its
study's end, or handed back (FAIL, and a WAITING copy of its parameters queued)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from regtune.service.store.backoff import (
    DATABASE_TRANSIENT,
    TRANSIENT,
    caused_by_database,
    database_error,
    describe,
)
from regtune.service.store.db import outages
from regtune.service.store.optuna_db.attrs import CLAIM_SECONDS_ATTR, DATABASE_HANDBACKS_ATTR
from regtune.service.store.optuna_db.internals.handles import (
    engine_of,
    storage_of,
    study_id_of,
    trial_id_of,
)
from regtune.service.store.scheduling.retries import queue_retry, retry_of, stored_state
from regtune.worker.failures import trial_error
from regtune.worker.stops import FinishedMeanwhile, HandBack, StudyStopped

log = logging.getLogger(__name__)
DATABASE_HANDBACKS = 10
"""Hand-backs of one trial's parameters for a database error mid-trial before that error is
the trial's own (counted against ``max_retries``). An outage stops the claims too, so it hands a
trial back once or twice; the same parameters failing on ten claims that succeeded is an error
the database gives every time (a table missing after a broken migration), which would otherwise
be handed back on every claim for ever."""


def optimize_one(
    study: optuna.Study, objective: Callable[[optuna.Trial], Any], number: list[int]
) -> None:
    """``study.optimize`` of one trial (``number`` receives its number as it starts), raising
    ``FinishedMeanwhile`` for a trial a sweep failed meanwhile, however Optuna met that FAIL.

    Optuna raises the objective's error again once it has recorded the trial's FAIL; any other
    error is its tell's, which cannot end a trial that is FAIL already: as the moment falls, an
    ``UpdateFinishedTrialError``, ``ValueError("Cannot tell a FAIL trial.")`` (a write after the
    sweep dropped the trial from this process) or an assertion of its own (its tell wrote
    nothing). So the trial's stored state decides, not the error (was: only the first was seen,
    and the others counted as the study's errors)."""
    left: list[BaseException] = []

    def run(trial: optuna.Trial) -> Any:
        try:
            return objective(trial)
        except BaseException as exc:
            left.append(exc)
            raise

    try:
        study.optimize(run, n_trials=1, gc_after_trial=False)
    except Exception as exc:
        if (left and exc is left[-1]) or not number or not ended_meanwhile(study, number[0]):
            raise
        raise FinishedMeanwhile(f"trial {number[0]} was finished meanwhile") from exc


def ended_meanwhile(study: optuna.Study, number: int) -> bool:
    """Whether trial ``number``, whose end this worker could not record, is finished as stored
    (a sweep failed it meanwhile); False if that cannot be read."""
    try:
        storage = storage_of(study)
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id_of(study), number)
        state = stored_state(engine_of(study), trial_id)
    except (KeyError, *TRANSIENT):
        return False
    return state is not None and state.is_finished()


def finished_meanwhile(study: optuna.Study, study_id: str, number: int) -> None:
    """Say what became of trial ``number``, found finished when this worker came to end it: a
    sweep failed it (its heartbeat lapsed) and queued its retry, or no retry of it is queued
    (the sweep found none left, or its FAIL was recorded before the error that followed)."""
    try:
        storage = storage_of(study)
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id_of(study), number)
        retry = retry_of(engine_of(study), trial_id)
    except TRANSIENT as exc:
        log.warning(
            "study %s trial %d was finished meanwhile; whether a retry of it is queued could not "
            "be read (%s)",
            study_id,
            number,
            describe(exc),
        )
        return
    if retry is None:
        log.warning(
            "study %s trial %d was finished meanwhile; no retry of it is queued", study_id, number
        )
    else:
        log.warning(
            "study %s trial %d was failed by a sweep (heartbeat lapsed); its retry is trial %d",
            study_id,
            number,
            retry,
        )


def cut_off_by_an_outage(study: optuna.Study, exc: BaseException, *, since: float) -> bool:
    """True if ``exc`` is or wraps a database error (an objective may say it in its own words)
    and this process found the database unreachable since ``since`` (``time.monotonic()``): the
    outage's error, handed back, not the trial's own. Without an outage, a database error an
    objective wraps is its own."""
    return caused_by_database(exc, among=DATABASE_TRANSIENT) and outages.lost_since(
        engine_of(study), since
    )


def record_failure(study: optuna.Study, error: str, *, claim_seconds: float) -> int | None:
    """A claim that failed before its trial could start still leaves a FAIL trial saying why
    (``error``), with the claim's latency → its number, None if it could not be recorded."""
    storage = storage_of(study)
    try:
        trial_id = storage.create_new_trial(study_id_of(study))
        number = storage.get_trial(trial_id).number
        storage.set_trial_system_attr(trial_id, CLAIM_SECONDS_ATTR, round(claim_seconds, 6))
        storage.set_trial_user_attr(trial_id, "error", error[:2000])
        storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
    except Exception as record_exc:
        log.warning("could not record the failed trial (%s)", describe(record_exc))
        return None
    return number


def note_stopped(study: optuna.Study, trial: optuna.Trial, exc: StudyStopped) -> None:
    """Record why a trial its study's end stopped FAILs, and mark one a cancel or the study's
    failure stopped (``StudyStopped.mark``): its study's end counts it apart from the trials
    that failed of themselves."""
    if not note_error(trial, exc) or exc.mark is None:
        return
    try:
        storage_of(study).set_trial_system_attr(trial_id_of(trial), exc.mark, True)
    except Exception as record_exc:
        log.warning("could not record %s on the trial (%s)", exc.mark, describe(record_exc))


def note_error(trial: optuna.Trial, exc: Exception, text: str | None = None) -> bool:
    """Record why a trial failed where the API shows it (its user attributes): ``text``, or the
    exception as its tenant may read it (``trial_error``) → False if the trial was finished
    meanwhile (a sweep failed it while its worker was silent, and queued its retry): its end
    stands as recorded, said at INFO, as nothing is lost (was: a WARNING that it could not be
    recorded, naming the error it meant to record)."""
    error = text or trial_error(exc)
    try:
        trial.set_user_attr("error", error[:2000])
    except Exception as record_exc:
        if ended_meanwhile(trial.study, trial.number):
            log.info(
                "trial %d was finished meanwhile (by a sweep): why it stopped here is not "
                "recorded on it, nothing is lost (%s)",
                trial.number,
                exc,
            )
            return False
        # what the write met, not ``exc``: it is that chain's root
        log.warning("could not record the trial's error (%s)", describe(record_exc, within=exc))
    return True


def handed_back(why: HandBack | str) -> str:
    """A handed-back trial's error: why, and that its parameters run again."""
    return f"handed back: {why}; its parameters run again"


def not_handed_back(why: str, exc: BaseException, *, within: BaseException | None) -> str:
    """The error of a trial whose retry could not be queued (``exc``, raised while ``within``
    was handled): why it stopped, and that its parameters do not run again."""
    return f"{why}; no retry queued: the database failed ({database_error(exc, within=within)})"


def fail_to_hand_back(study: optuna.Study, number: int, reason: str) -> bool:
    """Move trial ``number`` RUNNING → FAIL, saying it is handed back for ``reason``; False if
    it was finished already (a sweep failed it, and queued its retry itself)."""
    storage = storage_of(study)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id_of(study), number)
    try:  # why, first: its own note may have met the database error that stops it
        storage.set_trial_user_attr(trial_id, "error", handed_back(reason))
        return bool(storage.set_trial_state_values(trial_id, state=TrialState.FAIL))
    except UpdateFinishedTrialError:
        return False


def queue_hand_back(study: optuna.Study, number: int, *, database: bool) -> int | None:
    """Queue a WAITING copy of failed trial ``number``'s parameters → None. A ``database`` error
    these parameters met on ``DATABASE_HANDBACKS`` claims before queues nothing: → the
    parameters' database hand-backs with this one."""
    storage = storage_of(study)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id_of(study), number)
    trial = storage.get_trial(trial_id)
    handed = int(trial.system_attrs.get(DATABASE_HANDBACKS_ATTR, 0)) + int(database)
    if handed > DATABASE_HANDBACKS:
        return handed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        attrs = {DATABASE_HANDBACKS_ATTR: handed} if handed else None
        queue_retry(study, trial, max_retry=None, attrs=attrs)
    return None
