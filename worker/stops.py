"""Why a trial ends before its objective returns: its study stopped meanwhile, it is handed back
(to run again with its parameters), or a sweep finished it meanwhile; and Optuna's line for such a
trial, kept without a traceback (``quiet_stops``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from optuna.exceptions import UpdateFinishedTrialError

from regtune.service.spec.enums import StudyStatus
from regtune.service.store.backoff import database_error, describe
from regtune.service.store.optuna_db.attrs import STOPPED_BY
from regtune.service.store.optuna_db.internals.handles import OPTUNA_TRIAL_LOGGER


class StudyStopped(Exception):
    """The study was cancelled, deleted or ended otherwise (failed) while a trial ran."""

    def __init__(self, status: str | None) -> None:
        """``status``: the study's, as the heartbeat read it (None: deleted)."""
        self.mark = None if status is None else STOPPED_BY.get(status)
        """The trial's mark (``STOPPED_MARKS``): its study's end counts it apart from the
        trials that failed of themselves."""
        if status is None or status == StudyStatus.CANCELLED:
            ended = "deleted" if status is None else "cancelled"
            super().__init__(f"the study was {ended} while the trial ran")
        else:
            super().__init__(f"the study ended ({status}) while the trial ran")


@dataclass(frozen=True)
class Stopped:
    """A study a heartbeat found no longer active while this worker ran it."""

    study_id: str
    status: str | None
    """Its status then (None: deleted)."""
    sent: float
    """When that heartbeat was sent (``time.monotonic``)."""

    def applies(self, study_id: str, *, since: float) -> bool:
        """Whether it stops a trial of ``study_id`` claimed at ``since``: a heartbeat sent
        after the claim read the study as it was then, one sent before may have read it before
        ``extend`` reopened it."""
        return self.study_id == study_id and self.sent >= since


class FinishedMeanwhile(Exception):
    """The trial was found finished when its worker came to end it: a sweep failed it meanwhile
    (its heartbeat lapsed: the worker was paused, or lost the database) and queued its retry."""


class HandBack(Exception):
    """The trial goes back to the queue with the same parameters.

    Raised when the worker is shutting down, when it may have lost its slot (its heartbeat lapsed
    long enough for a sweep to release it), or when the database went away mid-trial.
    """


class DatabaseHandBack(HandBack):
    """A hand-back for a database error mid-trial (``DATABASE_TRANSIENT``: the built-in
    ``TimeoutError`` or ``ConnectionError`` of an objective's own call is its trial's failure,
    not the database's): bounded per parameters by ``outcomes.DATABASE_HANDBACKS``."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(database_failed(exc))
        self.error = describe(exc)
        """The database error that interrupted the trial, as the worker's log names it."""


def database_failed(exc: BaseException) -> str:
    """Why a trial was handed back for a database error, as its tenant reads it: the cause in
    words, never the database's address or its driver's text (the worker's log has those)."""
    return f"the database failed mid-trial: {database_error(exc)}"


class _NoTracebackForStops(logging.Filter):
    """Optuna logs a trial that raises with its traceback; a hand-back or a stopped study is the
    worker's decision, not a crash, and a write refused because a sweep failed the trial
    meanwhile is no crash either, so its line keeps the reason and loses the traceback (the
    worker says what it did with the trial, or what became of it, in its own line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HandBack | StudyStopped | UpdateFinishedTrialError):
            record.exc_info = record.exc_text = None
        return True


def quiet_stops() -> None:
    """Install ``_NoTracebackForStops`` on Optuna's trial logger, once per process."""
    logger = logging.getLogger(OPTUNA_TRIAL_LOGGER)
    if not any(isinstance(f, _NoTracebackForStops) for f in logger.filters):
        logger.addFilter(_NoTracebackForStops())
