"""Finding work that nobody will finish: trials of dead workers, slots they held, lapsed deadlines.

Optuna fails stale trials only inside ``study.optimize``; when the dead worker was the only one
(or the others are busy) nobody would call it, so the API process and idle workers sweep too.
"""

from __future__ import annotations

import copy
import logging
import warnings
from datetime import timedelta

import optuna
from optuna.trial import TrialState
from sqlalchemy import Engine, or_, select

from service.settings import get_settings
from service.spec.enums import ACTIVE, FINAL
from service.store.claims import release_dead_workers, utcnow
from service.store.db import transaction
from service.store.optuna_internals import om, stale_trial_ids, trial_started_utc
from service.store.tables import ClaimRow, StudyRow

log = logging.getLogger(__name__)


def fail_stale_trials(
    engine: Engine | None = None, storage: optuna.storages.RDBStorage | None = None
) -> None:
    """Fail trials whose Optuna heartbeat lapsed; the storage's callback enqueues their retries.

    Studies still scheduling and studies with a slot held (a cancelled study's last trials) are
    swept, so no trial of a dead worker stays RUNNING.
    """
    from service.store.optuna_storage import get_storage

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


def fail_orphaned_trials(
    engine: Engine | None = None, storage: optuna.storages.RDBStorage | None = None
) -> int:
    """Fail RUNNING trials nobody runs that Optuna's own sweep cannot see; return how many.

    Optuna judges staleness by heartbeats only, so a trial created just before its worker lost
    the database (no heartbeat yet) would stay RUNNING forever, and so would a stale trial of a
    study that already ended (Optuna is only asked about studies still running). Trials of
    active studies are retried with the same parameters; a study that ended gets no retries, and
    retries still WAITING there are failed too, so an ended study has nothing left to run.
    """
    from service.store.optuna_storage import get_storage, retry_stale_trial

    storage = storage or get_storage()
    grace = timedelta(seconds=get_settings().grace_period)
    cutoff = utcnow() - grace
    trials, beats = om.TrialModel, om.TrialHeartbeatModel
    never_beat = (
        (trials.state == TrialState.RUNNING)
        & beats.trial_id.is_(None)
        & (trial_started_utc() < cutoff)
    )
    with transaction(engine) as session:
        rows = session.execute(
            select(trials.trial_id, trials.state, StudyRow.status, StudyRow.optuna_name, never_beat)
            .join(StudyRow, StudyRow.optuna_study_id == trials.study_id)
            .outerjoin(beats, beats.trial_id == trials.trial_id)
            .where(
                or_(
                    never_beat,
                    trials.state.in_([TrialState.RUNNING, TrialState.WAITING])
                    & StudyRow.status.in_(FINAL),
                )
            )
        ).all()
    failed = 0
    stale: dict[str, set[int]] = {}
    for trial_id, state, status, name, orphan in rows:
        if state == TrialState.RUNNING and not orphan:
            # a finished study's trial with a heartbeat: fail it only once the heartbeat lapsed
            if name not in stale:
                stale[name] = set(stale_trial_ids(storage, storage.get_study_id_from_name(name)))
            if trial_id not in stale[name]:
                continue  # still alive: a cancelled study's trial stops at its next epoch
        try:
            if not storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        failed += 1
        log.warning("failed orphaned trial %s of %s (%s study)", trial_id, name, status)
        if status in ACTIVE and state == TrialState.RUNNING:
            study = optuna.load_study(study_name=name, storage=storage)
            retry_stale_trial(study, copy.deepcopy(storage.get_trial(trial_id)))
    return failed


def sweep(engine: Engine | None = None, storage: optuna.storages.RDBStorage | None = None) -> int:
    """Fail stale trials (enqueuing their retries), then release dead workers' slots.

    In this order a dead worker's trial is already FAIL, with its retry WAITING, when its slot
    comes free, so the next claim of that study runs the retry. Returns the slots released.
    """
    fail_stale_trials(engine, storage)
    fail_orphaned_trials(engine, storage)
    return release_dead_workers(engine, grace=timedelta(seconds=get_settings().grace_period))
