"""What became of a study's FAIL trials, told apart by what Optuna's tables keep of each.

A FAIL trial is one of five things to its user, and only one of them is a failure of its own:

- **interrupted and run again**: its worker handed it back (stopped by SIGTERM, a database
  outage mid-trial, a slot released under it) or died and the sweep failed it; either way a
  WAITING copy of its parameters was queued, and that copy names it (``FAILED_TRIAL_ATTR``, the
  system attribute Optuna's retry callback gives every copy). So the study's retried FAIL trials
  are as many as its copies;
- **never run**: a queued trial (such a copy) that the study ended before any worker took it;
  the sweep failed it straight from WAITING, so it has no start time;
- **stopped by the cancel**: a user cancelled its study while it ran, and its worker stopped it
  and marked it so (``STOPPED_BY_CANCEL_ATTR``);
- **stopped when the study failed**: another trial's errors passed ``budget.max_retries`` while
  it ran, so its study failed, and its worker stopped it and marked it so
  (``STOPPED_BY_STUDY_FAILURE_ATTR``);
- **failed**: the rest: its objective raised (its error says why; the study spends one of its
  ``budget.max_retries`` on it, and new parameters take its slot), its worker died with no retry
  left, or its worker handed it back but could not queue its copy (its error says so).

These facts are columns of the trial's own row or of an attribute row keyed by it, read where
the counts are: the per-process index's delta read, or the report's count by state, each with a
second statement for the few FAIL trials their study's end stopped (``stopped_marks``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from optuna.trial import TrialState
from sqlalchemy import Select, and_, select

from regtune.service.store.optuna_db.attrs import (
    FAILED_TRIAL_ATTR,
    STOPPED_BY_CANCEL_ATTR,
    STOPPED_BY_STUDY_FAILURE_ATTR,
    STOPPED_MARKS,
)
from regtune.service.store.optuna_db.internals.handles import om


@dataclass(frozen=True)
class Failures:
    """A study's FAIL trials by what became of them (see the module's docstring)."""

    failed: int = 0
    """Every FAIL trial (``counts["FAIL"]``)."""
    retried: int = 0
    """Copies queued to run a FAIL trial's parameters again: as many FAIL trials were
    interrupted."""
    not_run: int = 0
    """FAIL trials that never started (queued, then failed as the study ended)."""
    retries_not_run: int = 0
    """Of ``not_run``, the copies: the interrupted trials whose parameters did not run again."""
    stopped_by_cancel: int = 0
    """FAIL trials a user's cancel of their study stopped as they ran."""
    stopped_by_study_failure: int = 0
    """FAIL trials their study's failure (another trial's errors) stopped as they ran."""

    @property
    def interrupted(self) -> int:
        """FAIL trials handed back or failed by the sweep, whose parameters were queued again."""
        return self.retried

    @property
    def run_again(self) -> int:
        """Interrupted trials whose copy was taken by a worker (or still waits for one)."""
        return self.retried - self.retries_not_run

    @property
    def own(self) -> int:
        """FAIL trials that failed of themselves: neither interrupted, never run nor stopped by
        their study's end (a cancel, or its failure)."""
        stopped = self.stopped_by_cancel + self.stopped_by_study_failure
        return max(0, self.failed - self.retried - self.not_run - stopped)

    def with_stopped(self, by_mark: Mapping[str, int]) -> Failures:
        """These, with the trials stopped by their study's end as ``stopped_marks`` reads them
        (``by_mark``: how many FAIL trials carry each mark)."""
        return replace(
            self,
            stopped_by_cancel=by_mark.get(STOPPED_BY_CANCEL_ATTR, 0),
            stopped_by_study_failure=by_mark.get(STOPPED_BY_STUDY_FAILURE_ATTR, 0),
        )


@dataclass(frozen=True)
class RetryJoin:
    """``trials`` outer-joined to the attribute that makes a trial a copy of a FAIL trial."""

    joined: Any
    is_retry: Any
    """True on a copy's row (labelled ``is_retry``)."""
    not_started: Any
    """True on a trial that never started (labelled ``not_started``)."""


def retry_join(trials: Any) -> RetryJoin:
    """``trials`` (Optuna's trials table) with the two facts ``Failures`` counts of every
    trial, one row per trial (an attribute's key is unique per trial)."""
    attrs = om.TrialSystemAttributeModel.__table__.alias("retried_from")
    joined = trials.outerjoin(
        attrs, and_(attrs.c.trial_id == trials.c.trial_id, attrs.c.key == FAILED_TRIAL_ATTR)
    )
    return RetryJoin(
        joined=joined,
        is_retry=attrs.c.trial_id.is_not(None).label("is_retry"),
        not_started=trials.c.datetime_start.is_(None).label("not_started"),
    )


def stopped_marks(trials: Any) -> Select[int, str]:
    """(trial id, mark) of the FAIL trials among ``trials`` (Optuna's trials table) that their
    study's end stopped (``STOPPED_MARKS``: a cancel, or the study's failure): a statement of
    its own, which the caller narrows (a study, some trials). Only FAIL trials can carry a mark,
    so it reads their attributes alone; as a second outer join of every trial's it cost the
    report's count 69 → 94 ms at 100,000 trials on SQLite (78 ms so)."""
    attrs = om.TrialSystemAttributeModel.__table__
    return (
        select(trials.c.trial_id, attrs.c.key)
        .join(
            attrs,
            and_(attrs.c.trial_id == trials.c.trial_id, attrs.c.key.in_(STOPPED_MARKS)),
        )
        .where(trials.c.state == TrialState.FAIL)
    )
