"""Optuna's RDBStorage on regtune's database, with heartbeats and per-study retries."""

from __future__ import annotations

from functools import lru_cache

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial

from service.db import engine_kwargs
from service.settings import get_settings

MAX_RETRIES_ATTR = "regtune:max_retries"
"""Study system attribute holding the definition's ``budget.max_retries``."""


def retry_stale_trial(study: optuna.Study, trial: FrozenTrial) -> None:
    """Re-enqueue a trial whose worker died, with the same parameters, up to ``max_retries``.

    Optuna's callback is configured per storage; regtune's retry budget is per study, so the
    budget is read from the study and handed to Optuna's own callback.
    """
    max_retries = study._storage.get_study_system_attrs(study._study_id).get(MAX_RETRIES_ATTR, 2)
    RetryHeartbeatStaleTrialCallback(max_retry=int(max_retries))(study, trial)


def make_storage(url: str | None = None) -> RDBStorage:
    settings = get_settings()
    url = url or settings.database_url
    return RDBStorage(
        url,
        engine_kwargs=engine_kwargs(url),
        heartbeat_interval=settings.heartbeat_interval,
        grace_period=settings.grace_period,
        heartbeat_stale_trial_callback=retry_stale_trial,
    )


@lru_cache
def get_storage() -> RDBStorage:
    return make_storage()
