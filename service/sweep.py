"""Finding work that nobody will finish: trials of dead workers, slots they held, lapsed deadlines.

Optuna fails stale trials only inside ``study.optimize``; when the dead worker was the only one
(or the others are busy) nobody would call it, so the API process and idle workers sweep too.
"""

from __future__ import annotations

import logging
import warnings
from datetime import timedelta

import optuna
from sqlalchemy import Engine, or_, select

from service.claims import ACTIVE, release_dead_workers
from service.db import transaction
from service.settings import get_settings
from service.tables import ClaimRow, StudyRow

log = logging.getLogger(__name__)


def fail_stale_trials(
    engine: Engine | None = None, storage: optuna.storages.RDBStorage | None = None
) -> None:
    """Fail trials whose Optuna heartbeat lapsed; the storage's callback enqueues their retries.

    Studies still scheduling and studies with a slot held (a cancelled study's last trials) are
    swept, so no trial of a dead worker stays RUNNING.
    """
    from service.storage import get_storage

    storage = storage or get_storage()
    with transaction(engine) as session:
        names = session.scalars(
            select(StudyRow.optuna_name).where(
                or_(
                    StudyRow.status.in_(ACTIVE),
                    StudyRow.id.in_(select(ClaimRow.study_id).distinct()),
                )
            )
        ).all()
    for name in names:
        try:
            study = optuna.load_study(study_name=name, storage=storage)
        except KeyError:  # deleted meanwhile
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)


def sweep(engine: Engine | None = None, storage: optuna.storages.RDBStorage | None = None) -> int:
    """Fail stale trials (enqueuing their retries), then release dead workers' slots.

    In this order a dead worker's trial is already FAIL, with its retry WAITING, when its slot
    comes free, so the next claim of that study runs the retry. Returns the slots released.
    """
    fail_stale_trials(engine, storage)
    return release_dead_workers(engine, grace=timedelta(seconds=get_settings().grace_period))
