"""Every ``regtune:*`` attribute key regtune writes on Optuna's studies and trials, in one place.

Optuna's attribute tables are where optuna-dashboard looks, so what regtune keeps there is named
here and nowhere else.
"""

from __future__ import annotations

# Study attributes
SPEC_ATTR = "regtune:definition"
"""Study user attribute: the definition as submitted (what the dashboard shows)."""
STUDY_ID_ATTR = "regtune:study_id"
"""Study system attribute: the regtune study id the Optuna study belongs to."""
MAX_RETRIES_ATTR = "regtune:max_retries"
"""Study system attribute holding the definition's ``budget.max_retries``."""
BEST_MODEL_ATTR = "regtune:best_model"
"""Study user attribute: ``{artifact_id, trial, filename, test_metrics, ...}`` of the model."""
NO_MODEL_ATTR = "regtune:no_best_model"
"""Study system attribute ``{reason, attempts}``: no model will be saved (no usable trial, or
saving failed too often); the catch-up does not look at the study again."""
MODEL_FAILURES_ATTR = "regtune:best_model_failures"
"""Study system attribute ``{attempts, error, retry_after}``: saving failed; retry after then."""

# Trial attributes
CLAIM_ATTR = "regtune:claim"
"""Trial system attribute naming the claim a trial runs under (see ``claims.link_trial``)."""
CLAIM_SECONDS_ATTR = "regtune:claim_seconds"
"""Trial system attribute: how long its claim took (read by the Prometheus histogram)."""
RETRY_OF_ATTR = "regtune:retry_of"
"""Trial system attribute of a queued retry: the id of the failed trial it re-runs (a dead
worker's slot is given back once it exists, see ``claims._retry_in_flight``)."""
