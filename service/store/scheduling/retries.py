"""Retries of trials whose worker died, and the storage every regtune process runs trials on."""

from __future__ import annotations

import logging
from functools import lru_cache

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial

from service.store.optuna_db.attrs import MAX_RETRIES_ATTR
from service.store.optuna_db.storage import make_storage
from service.store.scheduling.claims import fail_study_killed_by

log = logging.getLogger(__name__)


def retry_stale_trial(study: optuna.Study, trial: FrozenTrial) -> None:
    """Re-enqueue a trial whose worker died, with the same parameters, up to ``max_retries``.

    Optuna's callback is configured per storage; regtune's retry budget is per study, so the
    budget is read from the study and handed to Optuna's own callback. When no retry is left,
    the same parameters killed a worker ``max_retries + 1`` times: the study fails with that
    reason rather than hand the next worker a trial like it.
    """
    max_retries = study._storage.get_study_system_attrs(study._study_id).get(MAX_RETRIES_ATTR, 2)
    history = list(trial.system_attrs.get("retry_history", []))  # Optuna appends to it
    RetryHeartbeatStaleTrialCallback(max_retry=int(max_retries))(study, trial)
    if len(history) >= int(max_retries):  # Optuna queued no retry: these parameters kill workers
        number = trial.system_attrs.get("failed_trial", trial.number)
        if fail_study_killed_by(study._study_id, number=number, deaths=len(history) + 1):
            log.error(
                "study %s failed: trial %d killed its worker %d times",
                study.study_name,
                number,
                len(history) + 1,
            )


def storage_with_retries(url: str | None = None) -> RDBStorage:
    """The storage workers, the sweep and the API share: dead workers' trials are retried."""
    return make_storage(url, on_stale_trial=retry_stale_trial)


@lru_cache
def get_storage() -> RDBStorage:
    return storage_with_retries()
