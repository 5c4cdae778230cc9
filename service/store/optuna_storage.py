"""Optuna's RDBStorage on regtune's database, with heartbeats and per-study retries."""

from __future__ import annotations

import logging
from functools import lru_cache

import optuna
from optuna.exceptions import StorageInternalError
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial

from service.settings import get_settings
from service.store.db import engine_kwargs
from service.store.optuna_internals import OneStatementTrialWrites

log = logging.getLogger(__name__)

MAX_RETRIES_ATTR = "regtune:max_retries"
"""Study system attribute holding the definition's ``budget.max_retries``."""


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
        from service.store.claims import fail_study_killed_by

        number = trial.system_attrs.get("failed_trial", trial.number)
        if fail_study_killed_by(study._study_id, number=number, deaths=len(history) + 1):
            log.error(
                "study %s failed: trial %d killed its worker %d times",
                study.study_name,
                number,
                len(history) + 1,
            )


class HeartbeatTolerantStorage(RDBStorage):
    """RDBStorage whose trial heartbeat survives a database blip.

    Optuna's heartbeat thread ends at the first error, so after a one-second outage a healthy
    trial would be failed as stale. A missed beat is logged and the next one tried instead; a
    worker that is really gone still stops beating.
    """

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            super().record_heartbeat(trial_id)
        except StorageInternalError as exc:
            log.warning("trial heartbeat missed (%s)", exc.__cause__ or exc)


class Storage(OneStatementTrialWrites, HeartbeatTolerantStorage):
    """The storage every regtune process uses: same tables and rows as Optuna's RDBStorage."""


def make_storage(url: str | None = None) -> RDBStorage:
    settings = get_settings()
    url = url or settings.database_url
    return Storage(
        url,
        engine_kwargs=engine_kwargs(url),
        heartbeat_interval=settings.heartbeat_interval,
        grace_period=settings.grace_period,
        heartbeat_stale_trial_callback=retry_stale_trial,
    )


@lru_cache
def get_storage() -> RDBStorage:
    return make_storage()
