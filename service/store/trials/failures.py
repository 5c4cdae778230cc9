"""What became of a study's FAIL trials, told apart by what Optuna's tables keep of each.

A FAIL trial is one of four things to its user, and only one of them is a failure of its own:

- **interrupted and run again**: its worker handed it back (stopped by SIGTERM, a database
  outage mid-trial, a slot released under it) or died and the sweep failed it; either way a
  WAITING copy of its parameters was queued, and that copy names it (``FAILED_TRIAL_ATTR``, the
  system attribute Optuna's retry callback gives every copy). So the study's retried FAIL trials
  are as many as its copies;
- **never run**: a queued trial (such a copy) that the study ended before any worker took it;
  the sweep failed it straight from WAITING, so it has no start time;
- **stopped by the cancel**: a user cancelled its study while it ran, and its worker stopped it
  and marked it so (``STOPPED_BY_CANCEL_ATTR``);
- **failed**: the rest: its objective raised (its error says why; the study spends one of its
  ``budget.max_retries`` on it, and new parameters take its slot), its worker died with no retry
  left, or its worker handed it back but could not queue its copy (its error says so).

These facts are columns of the trial's own row or of an attribute row keyed by it, so they are
read with the counts, in the same statement: the per-process index's delta read, or the report's
count by state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_

from regtune.service.store.optuna_db.attrs import FAILED_TRIAL_ATTR, STOPPED_BY_CANCEL_ATTR
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
        the cancel."""
        return max(0, self.failed - self.retried - self.not_run - self.stopped_by_cancel)


@dataclass(frozen=True)
class RetryJoin:
    """``trials`` outer-joined to the attributes that make a trial a copy of a FAIL trial, or
    one a cancel stopped."""

    joined: Any
    is_retry: Any
    """True on a copy's row (labelled ``is_retry``)."""
    not_started: Any
    """True on a trial that never started (labelled ``not_started``)."""
    by_cancel: Any
    """True on a trial a cancel stopped (labelled ``by_cancel``)."""


def retry_join(trials: Any) -> RetryJoin:
    """``trials`` (Optuna's trials table) with the facts ``Failures`` counts, one row per trial
    (an attribute's key is unique per trial)."""
    table = om.TrialSystemAttributeModel.__table__
    retried, stopped = table.alias("retried_from"), table.alias("stopped_by_cancel")
    joined = trials.outerjoin(
        retried,
        and_(retried.c.trial_id == trials.c.trial_id, retried.c.key == FAILED_TRIAL_ATTR),
    ).outerjoin(
        stopped,
        and_(stopped.c.trial_id == trials.c.trial_id, stopped.c.key == STOPPED_BY_CANCEL_ATTR),
    )
    return RetryJoin(
        joined=joined,
        is_retry=retried.c.trial_id.is_not(None).label("is_retry"),
        not_started=trials.c.datetime_start.is_(None).label("not_started"),
        by_cancel=stopped.c.trial_id.is_not(None).label("by_cancel"),
    )
