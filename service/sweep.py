"""Finding work that nobody will finish: trials of dead workers, slots they held, lapsed deadlines.

Optuna fails stale trials only inside ``study.optimize``; when the dead worker was the only one
(or the others are busy) nobody would call it, so the API process and idle workers sweep too.
"""

from __future__ import annotations

import logging
import warnings
from datetime import timedelta

import optuna
from sqlalchemy import Engine, select

from service.claims import release_dead_workers
from service.db import transaction
from service.settings import get_settings
from service.tables import StudyRow

log = logging.getLogger(__name__)


def sweep(engine: Engine | None = None, storage: optuna.storages.RDBStorage | None = None) -> int:
    """Fail stale trials (enqueuing their retries) and release dead workers' slots."""
    from service.storage import get_storage

    storage = storage or get_storage()
    with transaction(engine) as session:
        names = session.scalars(
            select(StudyRow.optuna_name).where(StudyRow.status == "running")
        ).all()
    for name in names:
        try:
            study = optuna.load_study(study_name=name, storage=storage)
        except KeyError:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
    return release_dead_workers(engine, grace=timedelta(seconds=get_settings().grace_period))
