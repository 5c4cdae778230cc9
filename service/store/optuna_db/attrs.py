"""Every attribute key regtune writes on Optuna's studies and trials (its ``regtune:*`` keys and
the few unprefixed user attributes a trial's training leaves), and the Optuna keys it reads, in
one place.

Optuna's attribute tables are where optuna-dashboard looks, so what regtune keeps there is named
here and nowhere else.
"""

from __future__ import annotations

from regtune.service.spec import points
from regtune.service.spec.enums import StudyStatus

# Study attributes (the definition is not one: it lives in the study's row, and the dashboard
# shows it in the study's note)
BEST_MODEL_ATTR = "regtune:best_model"
"""Study user attribute: ``{artifact_id, trial, filename, test_metrics, ...}`` of the model."""
CHOSEN_TRIAL_ATTR = "regtune:chosen_trial"
"""Study user attribute: the number of the trial regtune chose as best, the one its best model
is of. Optuna's ``best_trial`` and optuna-dashboard's "Best Trial" are the best value (within
``objective.max_nonzero``), which ``objective.select: one_se`` and the relax margin may pass
over."""
CHOSEN_BECAUSE_ATTR = "regtune:chosen_because"
"""Study user attribute: why that trial (a string: the dashboard shows it as written)."""
NO_MODEL_ATTR = "regtune:no_best_model"
"""Study system attribute ``{reason, attempts}``: no model will be saved (no usable trial, or
saving failed too often); the catch-up does not look at the study again."""
MODEL_FAILURES_ATTR = "regtune:best_model_failures"
"""Study system attribute ``{attempts, error, retry_after}``: saving failed; retry after then."""
PREVIOUS_MODEL_ATTR = "regtune:previous_best_model"
"""Study system attribute: the best-model record of the study's last end, set aside when the
study was extended (``extension``); its file is published again without retraining if the same
trial is chosen at the next end, else removed once the new model is saved."""
MODEL_LEASE_ATTR = "regtune:best_model_lease"
"""Study system attribute ``{owner, until, worker}``: a worker is retraining the study's model;
the others' catch-up leaves the study alone until then (the owner renews it while it trains)."""
LEASE_OWNER, LEASE_UNTIL, LEASE_WORKER = "owner", "until", "worker"
"""The keys of ``MODEL_LEASE_ATTR``'s value: the save holding it, when it runs out (ISO time, UTC,
whose text sorts as the times do), the worker retraining (``repos.model_lease`` writes them, the
workers listing reads them in SQL)."""

# Trial attributes
CLAIM_ATTR = "regtune:claim"
"""Trial system attribute naming the claim a trial runs under (see ``claims.links.link_trial``)."""
PATH_CLAIM_PREFIX = "regtune:path_claim:"
"""Trial system attribute ``regtune:path_claim:<claim id>`` on a λ path's running trial, one
for each further slot the path holds: the sweep keeps those slots while the trial runs, and once
it is failed, until its retry is queued (``claims.links._trial_of``), as it does the trial's own."""
PATH_OF_ATTR = "regtune:path_of"
"""Trial system attribute of a λ path's point: the number of the trial whose claim ran it."""
POINT_ATTR = points.POINT_ATTR
"""Trial user attribute of a trial enqueued from ``sampler.points_to_evaluate`` (its position
there), declared with the points (``regtune.service.spec.points``), where the client reads it."""
CLAIM_SECONDS_ATTR = "regtune:claim_seconds"
"""Trial system attribute: how long its claim took (read by the Prometheus histogram)."""
RETRY_OF_ATTR = "regtune:retry_of"
"""Trial system attribute of a queued retry: the id of the failed trial it re-runs (a dead
worker's slot is given back once it exists, see ``claims.links.retry_in_flight``)."""
FAILED_TRIAL_ATTR = "failed_trial"
"""Trial system attribute of a queued retry, Optuna's own (``RetryHeartbeatStaleTrialCallback``
writes it, ``retried_trial_number`` reads it): the number of the first trial of these parameters
that failed. Every retry regtune ever queued has it, those queued before ``RETRY_OF_ATTR`` too."""
DATABASE_HANDBACKS_ATTR = "regtune:database_handbacks"
"""Trial system attribute of a queued retry: how many times these parameters were handed back
for a database error mid-trial (carried from copy to copy; ``worker.outcomes.DATABASE_HANDBACKS``
bounds it)."""
STOPPED_BY_CANCEL_ATTR = "regtune:stopped_by_cancel"
"""Trial system attribute (true) of a FAIL trial its worker stopped because a user cancelled its
study while it ran: the study's end counts it apart from the trials that failed of themselves
(``trials.failures``)."""
STOPPED_BY_STUDY_FAILURE_ATTR = "regtune:stopped_by_study_failure"
"""Trial system attribute (true) of a FAIL trial its worker stopped because its study failed
while it ran (another trial's errors passed ``budget.max_retries``): counted apart from the
trials that failed of themselves, as ``STOPPED_BY_CANCEL_ATTR``'s are."""
STOPPED_BY: dict[str, str] = {
    StudyStatus.CANCELLED: STOPPED_BY_CANCEL_ATTR,
    StudyStatus.FAILED: STOPPED_BY_STUDY_FAILURE_ATTR,
}
"""The mark of a trial its study's end stopped, by the status the study ended in (a deleted
study's trials go with it; a study completes with no trial running)."""
STOPPED_MARKS = tuple(STOPPED_BY.values())
"""The marks of a FAIL trial its study's end stopped (a trial carries one at most)."""
DIVERGED_ATTR = "diverged"
"""Trial user attribute: its training diverged (its loss became NaN or infinite); never chosen."""
DIVERGED_EPOCH_ATTR = "diverged_epoch"
"""Trial user attribute of a diverged trial: the epoch (or block) whose loss was not finite,
its last, reported to no one."""
VAL_CURVE_ATTR = "val_curve"
"""Trial user attribute of a trial of several objectives (or a λ path's point): the first
objective's value at each epoch, which Optuna records no intermediate value of."""
CONSTRAINTS_ATTR = "constraints"
"""Trial system attribute, Optuna's: ``constraints:<name>`` holds a constraint's value
(``Trial.set_constraint``; regtune's ``objective.max_nonzero`` is ``constraints:max_nonzero``),
``constraints`` a list of them (Optuna's older ``constraints_func``, which optuna-dashboard 0.21
reads alone). Over 0 is infeasible."""
FEASIBLE_ATTR = "feasible"
"""Trial user attribute: false if its model failed ``objective.max_nonzero``; never chosen."""
STOPPED_EARLY_ATTR = "stopped_early"
"""Trial user attribute a trial's training sets true when early stopping ended it (a user
attribute, unprefixed: optuna-dashboard shows it beside the trial's other training facts)."""
WORKER_DEATHS_ATTR = "regtune:worker_deaths"
"""Trial system attribute of a queued retry: how many workers died running these parameters
(the sweep failed their trials), carried from copy to copy; a hand-back adds none, so a trial
handed back on every scale-down still has its ``budget.max_retries`` for deaths."""
COEFFICIENTS_ATTR = "regtune:coefficients"
"""Trial system attribute of a linear trial: its weights by input name (non-zero ones, the
largest few, rounded; the format is ``regtune.service.store.trials.coefficients``'s). The report
draws the coefficient path from it."""


def claim_link(key: str) -> bool:
    """Whether a trial's system attribute ``key`` ties it to a claim of the worker that ran it
    (``CLAIM_ATTR``, a path's ``PATH_CLAIM_PREFIX`` keys, ``CLAIM_SECONDS_ATTR``)."""
    return key in (CLAIM_ATTR, CLAIM_SECONDS_ATTR) or key.startswith(PATH_CLAIM_PREFIX)
