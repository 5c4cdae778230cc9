"""Retries of trials whose worker died, and the storage every regtune process runs trials on."""

from __future__ import annotations

import copy
import logging
from functools import lru_cache

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial

from service.store.optuna_db.attrs import MAX_RETRIES_ATTR, RETRY_OF_ATTR
from service.store.optuna_db.storage import make_storage
from service.store.scheduling.claims import fail_study_killed_by

log = logging.getLogger(__name__)


def queue_retry(study: optuna.Study, trial: FrozenTrial, *, max_retry: int | None) -> None:
    """Queue a WAITING copy of the failed ``trial`` (Optuna's retry), up to ``max_retry`` times.

    The copy names the trial it re-runs (``RETRY_OF_ATTR``; Optuna's callback carries the
    failed trial's system attributes over): a dead worker's slot is given back only once the
    retry of its trial is queued, so the claim that takes the slot runs the retry.
    """
    marked = copy.deepcopy(trial)  # Optuna appends to its retry_history: keep a cached trial
    marked.system_attrs = {**trial.system_attrs, RETRY_OF_ATTR: trial._trial_id}
    RetryHeartbeatStaleTrialCallback(max_retry=max_retry)(study, marked)


def retry_stale_trial(study: optuna.Study, trial: FrozenTrial) -> None:
    """Re-enqueue a trial whose worker died, with the same parameters, up to ``max_retries``.

    Optuna's callback is configured per storage; regtune's retry budget is per study, so the
    budget is read from the study and handed to Optuna's own callback. When no retry is left,
    the same parameters killed a worker ``max_retries + 1`` times: the study fails with that
    reason rather than hand the next worker a trial like it.
    """
    max_retries = study._storage.get_study_system_attrs(study._study_id).get(MAX_RETRIES_ATTR, 2)
    history = list(trial.system_attrs.get("retry_history", []))  # Optuna appends to it
    queue_retry(study, trial, max_retry=int(max_retries))
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
