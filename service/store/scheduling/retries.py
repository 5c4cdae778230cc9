"""Retries of trials whose worker died, and the storage every regtune process runs trials on."""

from __future__ import annotations

import copy
import logging
from functools import lru_cache

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial
from sqlalchemy import Engine, select

from service.store.db import transaction
from service.store.optuna_db.attrs import RETRY_OF_ATTR
from service.store.optuna_db.internals import engine_of, study_id_of, trial_id_of
from service.store.optuna_db.storage import make_storage
from service.store.scheduling.claims import fail_study_killed_by
from service.store.tables import StudyRow

log = logging.getLogger(__name__)


def queue_retry(study: optuna.Study, trial: FrozenTrial, *, max_retry: int | None) -> None:
    """Queue a WAITING copy of the failed ``trial`` (Optuna's retry), up to ``max_retry`` times.

    The copy names the trial it re-runs (``RETRY_OF_ATTR``; Optuna's callback carries the
    failed trial's system attributes over): a dead worker's slot is given back only once the
    retry of its trial is queued, so the claim that takes the slot runs the retry.
    """
    marked = copy.deepcopy(trial)  # Optuna appends to its retry_history: keep a cached trial
    marked.system_attrs = {**trial.system_attrs, RETRY_OF_ATTR: trial_id_of(trial)}
    RetryHeartbeatStaleTrialCallback(max_retry=max_retry)(study, marked)


def retry_stale_trial(study: optuna.Study, trial: FrozenTrial) -> None:
    """Re-enqueue a trial whose worker died, with the same parameters, up to ``max_retries``.

    Optuna's callback is configured per storage; regtune's retry budget is per study, so the
    budget is read from the study's row and handed to Optuna's own callback. When no retry is
    left, the same parameters killed a worker ``max_retries + 1`` times: the study fails with
    that reason rather than hand the next worker a trial like it.
    """
    engine, optuna_study_id = engine_of(study), study_id_of(study)
    max_retries = _max_retries(engine, optuna_study_id)
    history = list(trial.system_attrs.get("retry_history", []))  # Optuna appends to it
    queue_retry(study, trial, max_retry=max_retries)
    if len(history) >= max_retries:  # Optuna queued no retry: these parameters kill workers
        number = trial.system_attrs.get("failed_trial", trial.number)
        deaths = len(history) + 1
        if fail_study_killed_by(optuna_study_id, number=number, deaths=deaths, engine=engine):
            log.error(
                "study %s failed: trial %d killed its worker %d times",
                study.study_name,
                number,
                deaths,
            )


def _max_retries(engine: Engine, optuna_study_id: int) -> int:
    """The study's ``budget.max_retries``; none for an Optuna study regtune has no row of."""
    with transaction(engine) as session:
        found = session.scalar(
            select(StudyRow.max_retries).where(StudyRow.optuna_study_id == optuna_study_id)
        )
    return 0 if found is None else int(found)


def storage_with_retries(url: str | None = None) -> RDBStorage:
    """The storage workers, the sweep and the API share: dead workers' trials are retried."""
    return make_storage(url, on_stale_trial=retry_stale_trial)


@lru_cache
def get_storage() -> RDBStorage:
    return storage_with_retries()
