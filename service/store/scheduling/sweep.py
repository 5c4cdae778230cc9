"""Finding work that nobody will finish: trials of dead workers, slots they held, lapsed deadlines.

Optuna fails stale trials only inside ``study.optimize``; when the dead worker was the only one
(or the others are busy) nobody would call it, so the API and idle workers sweep too. Of the API
processes (``regtune api --workers N``, replicas), only the holder of the sweep lease sweeps.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from datetime import datetime, timedelta

import optuna
from optuna.trial import TrialState
from sqlalchemy import ColumnElement, Engine, String, and_, cast, delete, func, or_, select

from regtune.service import logs
from regtune.service.settings import get_settings
from regtune.service.spec.enums import ACTIVE, FINAL
from regtune.service.store.clock import seconds_since, utcnow
from regtune.service.store.db import get_engine, outages, rowcount, transaction
from regtune.service.store.optuna_db.attrs import CLAIM_ATTR, STOPPED_BY
from regtune.service.store.optuna_db.internals.expressions import open_trials, trial_started_utc
from regtune.service.store.optuna_db.internals.handles import om
from regtune.service.store.optuna_db.names import OPTUNA_NAME
from regtune.service.store.scheduling.claims.recovery import release_dead_workers
from regtune.service.store.tables import ClaimRow, StudyRow, WorkerRow

log = logging.getLogger(__name__)
CREATION_GRACE = timedelta(minutes=2)
"""How long a study may stay half-created (a row, no Optuna study id) before it is removed."""


def _silent(default: float, steady: float = math.inf) -> ColumnElement[bool]:
    """Whether a RUNNING trial's Optuna heartbeat is older than the grace period of the worker
    that runs it (the worker of the claim it is linked to: ``CLAIM_ATTR``), as the worker
    registered it; ``default`` (the sweeper's) for a worker row without one, written by an
    older regtune or already removed (only once that worker's own grace period passed). A trial
    whose worker's grace period is longer than the ``steady`` seconds the sweeper has reached
    the database for is not judged yet (``sweep``). Null for a trial without a heartbeat."""
    trials, beats, attr = om.TrialModel, om.TrialHeartbeatModel, om.TrialSystemAttributeModel
    own = (
        select(WorkerRow.grace_period)
        .join(ClaimRow, ClaimRow.worker_id == WorkerRow.id)
        .join(attr, attr.value_json == cast(ClaimRow.id, String))
        .where(attr.trial_id == trials.trial_id, attr.key == CLAIM_ATTR)
        .scalar_subquery()
    )
    grace = func.coalesce(own, default)
    silent = seconds_since(beats.heartbeat, now=func.current_timestamp()) > grace
    return silent if math.isinf(steady) else and_(silent, grace <= steady)


def fail_stale_trials(
    engine: Engine | None = None,
    storage: optuna.storages.RDBStorage | None = None,
    *,
    grace: timedelta | None = None,
    steady: float = math.inf,
) -> None:
    """Fail trials whose Optuna heartbeat lapsed (``_silent``: their own worker's grace period,
    or ``grace``, ``REGTUNE_GRACE_PERIOD`` by default); the storage's callback enqueues their
    retries.

    Studies still scheduling and studies with a slot held (a cancelled study's last trials) are
    swept, so no trial of a dead worker stays RUNNING; the stale trials are one query, and only
    their studies are loaded. A cancelled or failed study's stale trials are marked as stopped
    by its end first (``_mark_stopped``): not retried, and no failure of their own.
    """
    from regtune.service.store.scheduling.retries import get_storage

    storage = storage or get_storage()
    default = (grace or timedelta(seconds=get_settings().grace_period)).total_seconds()
    trials, beats = om.TrialModel, om.TrialHeartbeatModel
    with transaction(engine) as session:
        rows = session.execute(
            select(StudyRow.optuna_name, StudyRow.status, trials.trial_id)
            .join(trials, trials.study_id == StudyRow.optuna_study_id)
            .join(beats, beats.trial_id == trials.trial_id)
            .where(  # the first condition lets the index of open trials find the candidates
                open_trials(),
                trials.state == TrialState.RUNNING,
                or_(
                    StudyRow.status.in_(ACTIVE),
                    StudyRow.id.in_(select(ClaimRow.study_id).distinct()),
                ),
                _silent(default, steady),
            )
            .order_by(trials.trial_id)
        ).all()
    stale: dict[tuple[str, str], list[int]] = {}
    for name, status, trial_id in rows:
        stale.setdefault((name, status), []).append(trial_id)
    for (name, status), trial_ids in stale.items():
        try:
            study = optuna.load_study(study_name=name, storage=storage)
        except KeyError:  # deleted meanwhile
            continue
        if (mark := STOPPED_BY.get(status)) is not None:
            _mark_stopped(storage, trial_ids, mark)
        _fail_stale(study, storage, trial_ids)


def _fail_stale(study: optuna.Study, storage: optuna.storages.RDBStorage, ids: list[int]) -> None:
    """What Optuna's ``fail_stale_trials`` does with the trials its grace period finds stale:
    fail them, then hand each one it failed to the storage's stale-trial callback."""
    failed = []
    for trial_id in ids:
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            if storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                failed.append(trial_id)
    callback = storage.get_heartbeat_stale_trial_callback()
    for trial_id in failed:
        if callback is not None:
            callback(study, copy.deepcopy(storage.get_trial(trial_id)))


def _mark_stopped(storage: optuna.storages.BaseStorage, trial_ids: list[int], mark: str) -> None:
    """Mark the RUNNING trials of a cancelled or failed study that the sweep is about to fail as
    trials its end stopped (``STOPPED_BY``), as their workers would have: before the FAIL, so
    whoever counts the FAIL sees the mark too (written after, a count could miss it). A trial
    that finishes meanwhile keeps a mark that counts for nothing: only FAIL trials' are read."""
    for trial_id in trial_ids:
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            storage.set_trial_system_attr(trial_id, mark, True)


def fail_orphaned_trials(
    engine: Engine | None = None,
    storage: optuna.storages.RDBStorage | None = None,
    *,
    grace: timedelta | None = None,
    steady: float = math.inf,
) -> int:
    """Fail RUNNING trials nobody runs that ``fail_stale_trials`` cannot see; return how many.

    That judges staleness by heartbeats only, so a trial created just before its worker lost
    the database (no heartbeat yet) would stay RUNNING forever, and so would a stale trial of a
    study that already ended (Optuna is only asked about studies still running). Trials of
    active studies are retried with the same parameters; a study that ended gets no retries, and
    retries still WAITING there are failed too, so an ended study has nothing left to run. A
    running trial of a cancelled or failed study is marked as one its study's end stopped
    (``_mark_stopped``), so the counts never show it as a trial that failed of itself.

    A trial that never beat is judged by ``grace`` (``REGTUNE_GRACE_PERIOD`` by default), not
    its worker's: it names no worker (its first heartbeat is written with its link to its
    claim), and that first heartbeat does not wait for the worker's interval. One that beat is
    judged as ``fail_stale_trials`` judges it (``_silent``).
    """
    from regtune.service.store.scheduling.retries import (
        NEVER_BEAT,
        STOPPED_BEATING,
        get_storage,
        note_trial_error,
        retry_stale_trial,
    )

    storage = storage or get_storage()
    grace = grace or timedelta(seconds=get_settings().grace_period)
    cutoff = utcnow() - grace
    trials, beats = om.TrialModel, om.TrialHeartbeatModel
    never_beat = (
        (trials.state == TrialState.RUNNING)
        & beats.trial_id.is_(None)
        & (trial_started_utc() < cutoff)
    )
    with transaction(engine) as session:
        rows = session.execute(
            select(
                trials.trial_id,
                trials.number,
                trials.state,
                StudyRow.id,
                StudyRow.status,
                StudyRow.optuna_name,
                never_beat,
                _silent(grace.total_seconds(), steady),
            )
            .join(StudyRow, StudyRow.optuna_study_id == trials.study_id)
            .outerjoin(beats, beats.trial_id == trials.trial_id)
            .where(  # the first condition lets the index of open trials find the candidates
                open_trials(),
                or_(never_beat, StudyRow.status.in_(FINAL)),
            )
        ).all()
    failed = 0
    for trial_id, number, state, study_id, status, name, orphan, stale in rows:
        if state == TrialState.RUNNING and not orphan and not stale:
            # a finished study's trial with a heartbeat is failed only once it lapsed: still
            # alive, a cancelled study's trial stops after its next heartbeat
            continue
        if state == TrialState.RUNNING and (mark := STOPPED_BY.get(status)) is not None:
            _mark_stopped(storage, [trial_id], mark)
        try:
            if not storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        failed += 1
        why = NEVER_BEAT if orphan else STOPPED_BEATING
        if status in ACTIVE and state == TrialState.RUNNING:  # the retry logs what it did
            study = optuna.load_study(study_name=name, storage=storage)
            retry_stale_trial(study, copy.deepcopy(storage.get_trial(trial_id)), why=why)
            continue
        error = (
            f"{why}; not retried: the study is {status}"
            if state == TrialState.RUNNING
            else f"not run: the study was {status} before it started"
        )
        with logs.context(study_id=study_id, trial=number):
            log.warning("study %s trial %d failed: %s", name, number, error)
        note_trial_error(engine or storage.engine, trial_id, error)
    return failed


def remove_unfinished_studies(
    engine: Engine | None = None,
    storage: optuna.storages.RDBStorage | None = None,
    *,
    now: datetime | None = None,
) -> list[str]:
    """Remove studies whose creating request died (a row without an Optuna study id for
    longer than ``CREATION_GRACE``), with the Optuna study it may have made; return their ids.

    The row is deleted first, by a conditional DELETE: a creation that was only slow then
    finds its row gone, and undoes itself instead of linking it.
    """
    from regtune.service.store.scheduling.retries import get_storage

    storage = storage or get_storage()
    cutoff = (now or utcnow()) - CREATION_GRACE
    unfinished = StudyRow.optuna_study_id.is_(None), StudyRow.created_at < cutoff
    with transaction(engine) as session:
        rows = session.execute(select(StudyRow.id, StudyRow.optuna_name).where(*unfinished)).all()
    removed = []
    for study_id, name in rows:
        with transaction(engine) as session:
            gone = session.execute(delete(StudyRow).where(StudyRow.id == study_id, *unfinished))
        if rowcount(gone) != 1:
            continue
        with contextlib.suppress(KeyError):
            optuna.delete_study(study_name=name, storage=storage)
        removed.append(study_id)
        with logs.context(study_id=study_id):
            log.warning("removed study %s: its creation never finished", study_id)
    return removed


OWNERLESS_GRACE = timedelta(minutes=2)
"""How long an Optuna study stays without a regtune row, as this process sees it, before the
sweep removes it: a delete under way removes its own first, however many trials it has."""
_OWNERLESS_SEEN: dict[str, dict[str, float]] = {}
"""Per database (its URL), each ownerless Optuna study this process's sweeps found, with when
they first found it (``time.monotonic``)."""


def remove_orphaned_optuna_studies(
    engine: Engine | None = None,
    storage: optuna.storages.RDBStorage | None = None,
    *,
    now: float | None = None,
) -> list[str]:
    """Remove Optuna studies named as regtune names them but without a regtune row, once this
    process's sweeps have found them so for ``OWNERLESS_GRACE``.

    A regtune row always exists before its Optuna study, and ``cancel_and_delete.delete`` deletes
    the row first (with the study's /metrics tallies, in one transaction), then the Optuna study,
    so such a study is being deleted by a delete under way, or was left by a delete killed
    between the two or by an older version killed mid-creation. The first removes its own
    (in seconds, for a study of many trials); removing it at once raced that delete, and said
    of a plain delete that an Optuna study had no owner.
    """
    from regtune.service.store.scheduling.retries import get_storage

    storage = storage or get_storage()
    now = time.monotonic() if now is None else now
    studies = om.StudyModel
    with transaction(engine) as session:
        names = session.scalars(
            select(studies.study_name).where(
                studies.study_name.like("% [%]"),
                ~select(StudyRow.id).where(StudyRow.optuna_name == studies.study_name).exists(),
            )
        ).all()
    database = str((engine or get_engine()).url)
    seen = _OWNERLESS_SEEN.get(database, {})
    found = {name: seen.get(name, now) for name in names if OPTUNA_NAME.match(name)}
    _OWNERLESS_SEEN[database] = found  # those gone meanwhile are forgotten
    due = sorted(n for n, since in found.items() if now - since >= OWNERLESS_GRACE.total_seconds())
    removed = []
    for name in due:
        with contextlib.suppress(KeyError):
            optuna.delete_study(study_name=name, storage=storage)
            removed.append(name)
            log.warning("removed Optuna study %r: no regtune study owns it", name)
        del found[name]
    return removed


def remove_studies_deleted_in_optuna(engine: Engine | None = None) -> list[str]:
    """Remove regtune studies whose Optuna study is gone, deleted outside regtune
    (``optuna.delete_study``, optuna-dashboard's Delete); return their ids.

    regtune deletes its row before the Optuna study, and links a new row to its Optuna study
    once made, so only such a deletion leaves a linked row whose Optuna study does not exist;
    the API would show it with no trials, as if it had never run.
    A row whose slots are held waits for them to come back (its trials cannot be written).
    """
    studies = om.StudyModel
    own = (studies.study_id == StudyRow.optuna_study_id) & (
        studies.study_name == StudyRow.optuna_name
    )  # by name too: SQLite may give a deleted study's id to the next one created
    gone = (
        StudyRow.optuna_study_id.is_not(None),
        StudyRow.n_running == 0,
        ~select(studies.study_id).where(own).exists(),
    )
    with transaction(engine) as session:
        ids = list(session.scalars(select(StudyRow.id).where(*gone)))
    removed = []
    for study_id in ids:
        with transaction(engine) as session:
            if rowcount(session.execute(delete(StudyRow).where(StudyRow.id == study_id, *gone))):
                removed.append(study_id)
                with logs.context(study_id=study_id):
                    log.warning("removed study %s: its Optuna study was deleted", study_id)
    return removed


def sweep(
    engine: Engine | None = None,
    storage: optuna.storages.RDBStorage | None = None,
    *,
    grace: timedelta | None = None,
) -> int:
    """Fail stale trials (enqueuing their retries), then release dead workers' slots: a trial
    or a worker is silent once its heartbeat is older than its worker's own grace period, as the
    worker registered it (``grace``, ``REGTUNE_GRACE_PERIOD`` by default, for a worker row an
    older regtune wrote).

    In this order a dead worker's trial is already FAIL, with its retry WAITING, when its slot
    comes free, so the next claim of that study runs the retry. Half-created studies, Optuna
    studies without a regtune study and regtune studies without an Optuna study are removed
    too. Returns the slots released.

    Silence is judged only once this process has been reaching the database for ``grace``
    without a break (``outages.steady``), from its start as after an outage, and a worker's
    only once it has been for that worker's grace period: the workers that an outage silenced
    have had a grace period to beat again, so a trial a live worker holds is never failed as
    its worker's death (which spends one of the study's ``max_retries``), nor its slot taken.
    """
    grace = grace or timedelta(seconds=get_settings().grace_period)
    steady = _judging(engine or get_engine(), grace)
    if steady is not None:
        fail_stale_trials(engine, storage, grace=grace, steady=steady)
        fail_orphaned_trials(engine, storage, grace=grace, steady=steady)
    remove_unfinished_studies(engine, storage)
    remove_orphaned_optuna_studies(engine, storage)
    remove_studies_deleted_in_optuna(engine)
    return release_dead_workers(engine, grace=grace, steady=steady) if steady is not None else 0


_held = False
"""Whether the last sweep of this process left heartbeats unjudged: said once per hold."""


def _judging(engine: Engine, grace: timedelta) -> float | None:
    """The seconds this process has reached the database for (inf on a SQLite file), if it has
    for ``grace`` (``outages.steady``), else None; the first sweep of a hold says why it judges
    nothing (a dead worker's trial then waits up to a grace period more: not a fault)."""
    global _held
    reached = outages.reached_for(engine)
    judging = reached is not None and reached >= grace.total_seconds()
    if not judging and not _held and reached is not None:
        log.info(
            "sweep: no worker judged dead for %.0f s more: this process has reached the "
            "database for %.1f s of the %.0f s grace period, and a silence it did not see may "
            "be an outage's (or the time before this process started), not a death",
            grace.total_seconds() - reached,
            reached,
            grace.total_seconds(),
        )
    _held = not judging and reached is not None
    return reached if judging else None
