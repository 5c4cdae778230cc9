"""Retries of trials whose worker died, and the storage every regtune process runs trials on."""

from __future__ import annotations

import copy
import json
import logging
import warnings
from datetime import datetime
from typing import Any, NamedTuple

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import Engine, delete, select, update

from regtune.service import logs
from regtune.service.settings import Settings
from regtune.service.spec.enums import ACTIVE
from regtune.service.store.db import PerDatabase, transaction
from regtune.service.store.optuna_db.attrs import (
    CLAIM_ATTR,
    FAILED_TRIAL_ATTR,
    RETRY_OF_ATTR,
    WORKER_DEATHS_ATTR,
    claim_link,
)
from regtune.service.store.optuna_db.internals.handles import (
    engine_of,
    om,
    study_id_of,
    trial_id_of,
)
from regtune.service.store.optuna_db.storage import make_storage
from regtune.service.store.scheduling.claims.finishing import finish
from regtune.service.store.scheduling.claims.links import unlinked_trial_of
from regtune.service.store.scheduling.claims.recovery import fail_study_killed_by
from regtune.service.store.tables import ClaimRow, StudyRow, WorkerRow

log = logging.getLogger(__name__)


def queue_retry(
    study: optuna.Study,
    trial: FrozenTrial,
    *,
    max_retry: int | None,
    attrs: dict[str, Any] | None = None,
) -> None:
    """Queue a WAITING copy of the failed ``trial`` (Optuna's retry), up to ``max_retry`` times;
    ``attrs``: system attributes the copy carries besides the failed trial's.

    The copy names the trial it re-runs (``RETRY_OF_ATTR``; Optuna's callback carries the
    failed trial's system attributes over): a dead worker's slot is given back only once the
    retry of its trial is queued, so the claim that takes the slot runs the retry. It carries
    none of the failed trial's links to its claims (``claim_link``): the retry runs under a
    claim of its own, and SQLite gives a deleted claim's id to the next one, so a copied link
    would name another claim (a λ path's retry, reserving its slots, collided with its own).
    Nor does it carry the failed trial's ``error``, which is not the copy's.
    """
    marked = copy.deepcopy(trial)  # Optuna appends to its retry_history: keep a cached trial
    kept = {k: v for k, v in trial.system_attrs.items() if not claim_link(k)}
    marked.system_attrs = {**kept, **(attrs or {}), RETRY_OF_ATTR: trial_id_of(trial)}
    marked.user_attrs = {k: v for k, v in trial.user_attrs.items() if k != "error"}
    RetryHeartbeatStaleTrialCallback(max_retry=max_retry)(study, marked)


STOPPED_BEATING = "the worker running it stopped sending heartbeats (it died or lost the database)"
"""Why the sweep failed a trial whose heartbeat lapsed."""
NEVER_BEAT = (
    "the worker running it died or lost the database before its first heartbeat (killed, or "
    "out of memory while the trial started)"
)
"""Why the sweep failed a RUNNING trial that never sent a heartbeat."""


KILLED_ON_SHUTDOWN = (
    "handed back: its worker did not stop in time on shutdown and was killed; its parameters "
    "run again"
)
"""Why a trial whose worker ``regtune serve`` had to kill is FAIL (``hand_back_killed_worker``),
in the words of a worker's own hand-back."""


def retry_stale_trial(
    study: optuna.Study, trial: FrozenTrial, *, why: str = STOPPED_BEATING
) -> None:
    """Re-enqueue a trial whose worker died, with the same parameters, up to ``max_retries``
    deaths; ``why``: what the sweep saw, recorded on the failed trial with what became of it.

    Optuna's callback is configured per storage; regtune's retry budget is per study, so the
    budget is read from the study's row. Only deaths count against it (``WORKER_DEATHS_ATTR``,
    carried from copy to copy): a hand-back (SIGTERM, a database outage) queues a copy too, and
    Optuna's ``retry_history`` lists it, but it spends nothing. When no retry is left, the same
    parameters killed a worker ``max_retries + 1`` times: the study fails with that reason rather
    than hand the next worker a trial like it. A study that has ended (cancelled while the trial
    ran) gets no retry: nothing would run it.
    """
    engine = engine_of(study)
    budget = _budget_of(engine, study_id_of(study))
    # the lines name this study and trial, not the ids of whatever the sweeping process runs
    with logs.context(study_id=budget.study_id, trial=trial.number):
        _retry(study, trial, budget, engine, why=why)


def _retry(
    study: optuna.Study, trial: FrozenTrial, budget: _Budget, engine: Engine, *, why: str
) -> None:
    if budget.status is not None and budget.status not in ACTIVE:
        error = f"{why}; not retried: the study is {budget.status}"
        note_trial_error(engine, trial_id_of(trial), error)
        log.warning("study %s trial %d failed: %s", study.study_name, trial.number, error)
        return
    deaths = int(trial.system_attrs.get(WORKER_DEATHS_ATTR, 0)) + 1
    retried = deaths <= budget.max_retries
    if retried:  # not Optuna's retry_history: it counts the hand-backs too, which are no deaths
        queue_retry(study, trial, max_retry=None, attrs={WORKER_DEATHS_ATTR: deaths})
    error = _note_stale(engine, trial_id_of(trial), why=why, retried=retried)
    log.warning("study %s trial %d failed: %s", study.study_name, trial.number, error)
    if not retried:  # these parameters kill workers
        number = trial.system_attrs.get(FAILED_TRIAL_ATTR, trial.number)
        if fail_study_killed_by(study_id_of(study), number=number, deaths=deaths, engine=engine):
            with logs.context(study_id=budget.study_id, trial=number):  # the trial it names
                log.error(
                    "study %s failed: trial %d killed its worker %d %s",
                    study.study_name,
                    number,
                    deaths,
                    "time" if deaths == 1 else "times",
                )


def retry_of(engine: Engine, trial_id: int) -> int | None:
    """The number of the trial queued to re-run ``trial_id`` (a sweep's retry or a hand-back),
    if one was."""
    trials, system = om.TrialModel, om.TrialSystemAttributeModel
    with transaction(engine) as session:
        return session.scalar(
            select(trials.number)
            .join(system, system.trial_id == trials.trial_id)
            .where(system.key == RETRY_OF_ATTR, system.value_json == json.dumps(trial_id))
        )


def stored_state(engine: Engine, trial_id: int) -> TrialState | None:
    """The trial's state as its row says (None: no such trial), not as a process's cache holds
    it: what a worker whose tell failed reads to know a trial a sweep failed meanwhile."""
    trials = om.TrialModel
    with transaction(engine) as session:
        state = session.scalar(select(trials.state).where(trials.trial_id == trial_id))
    return None if state is None else TrialState(state)


def _note_stale(engine: Engine, trial_id: int, *, why: str, retried: bool) -> str:
    """Record on the FAILed trial why it failed and which trial retries it; return the note."""
    retry = retry_of(engine, trial_id)
    then = (
        f"queued again as trial #{retry} with the same parameters"
        if retried and retry is not None
        else "no retry left (budget.max_retries)"
    )
    error = f"{why}; {then}"
    note_trial_error(engine, trial_id, error)
    return error


def note_trial_error(engine: Engine, trial_id: int, error: str, *, replace: bool = False) -> None:
    """Record why a finished trial failed, in the ``error`` user attribute a trial's other
    failures use (the API and optuna-dashboard show it), unless it says so already; with
    ``replace``, over what it says (a note written before its end was known).

    Optuna refuses attributes on a finished trial, and its sweep fails the trial before it
    calls back, so the row is written here directly."""
    attr = om.TrialUserAttributeModel
    with transaction(engine) as session:
        exists = session.scalar(
            select(attr.trial_user_attribute_id).where(
                attr.trial_id == trial_id, attr.key == "error"
            )
        )
        if exists is None:
            session.add(attr(trial_id=trial_id, key="error", value_json=json.dumps(error)))
        elif replace:
            session.execute(
                update(attr)
                .where(attr.trial_user_attribute_id == exists)
                .values(value_json=json.dumps(error))
            )


class _Budget(NamedTuple):
    study_id: str | None
    max_retries: int
    status: str | None


def _budget_of(engine: Engine, optuna_study_id: int) -> _Budget:
    """The study's id, ``budget.max_retries`` and status; no id, no retries and no status for
    an Optuna study regtune has no row of."""
    with transaction(engine) as session:
        found = session.execute(
            select(StudyRow.id, StudyRow.max_retries, StudyRow.status).where(
                StudyRow.optuna_study_id == optuna_study_id
            )
        ).first()
    if found is None:
        return _Budget(None, 0, None)
    return _Budget(str(found[0]), int(found[1]), str(found[2]))


def storage_with_retries(url: str | None = None, *, settings: Settings | None = None) -> RDBStorage:
    """The storage workers, the sweep and the API share: dead workers' trials are retried."""
    return make_storage(url, on_stale_trial=retry_stale_trial, settings=settings)


get_storage = PerDatabase(storage_with_retries, lambda storage: storage.engine.dispose())
"""The process's Optuna storage of the settings' database."""


def hand_back_killed_worker(
    *,
    host: str,
    pid: int,
    engine: Engine | None = None,
    storage: RDBStorage | None = None,
) -> int:
    """Hand back what a worker held when its parent had to kill it on shutdown; → slots given.

    ``regtune serve`` kills a worker that did not stop in time: that is the parent's decision,
    not a trial killing its worker, so it must not count as a death (or as an error before the
    trial started). Its running trial is failed and queued again with the same parameters, as
    the worker's own hand-back does, then its slots are released as a finish without error.

    A trial killed before its worker linked it to its claim (``links.unlinked_trial_of``) names
    no worker: it may as well be a live worker's, between its two writes. So it is left to the
    sweep, and so is its slot, which the sweep gives back once the trial's retry is queued (a
    slot given back now would go to a fresh trial first).
    """
    storage = storage or get_storage()
    attr, trials = om.TrialSystemAttributeModel, om.TrialModel
    with transaction(engine) as session:
        this_one = (WorkerRow.host == host, WorkerRow.pid == pid)
        ids = list(session.scalars(select(WorkerRow.id).where(*this_one)))
        held = session.execute(
            select(ClaimRow.id, ClaimRow.study_id, ClaimRow.claimed_at, ClaimRow.seq).where(
                ClaimRow.worker_id.in_(ids)
            )
        ).all()
        running = session.execute(  # the trials linked to those claims (``link_trial``)
            select(StudyRow.id, StudyRow.optuna_name, trials.number)
            .join(trials, trials.study_id == StudyRow.optuna_study_id)
            .join(attr, attr.trial_id == trials.trial_id)
            .where(
                attr.key == CLAIM_ATTR,
                attr.value_json.in_([json.dumps(claim_id) for claim_id, *_ in held]),
                trials.state == TrialState.RUNNING,
            )
        ).all()
    for study_id, optuna_name, number in running:
        with logs.context(study_id=study_id, trial=int(number)):
            _hand_back_running(storage, optuna_name, int(number))
    given = 0
    for claim_id, study_id, claimed_at, seq in held:
        if _unlinked_trial_running(engine, study_id, claimed_at):
            continue  # the sweep's: its worker row goes below, so it finds the worker dead
        finish(engine, claim_id=claim_id, study_id=study_id, seq=seq)
        given += 1
    with transaction(engine) as session:
        session.execute(delete(WorkerRow).where(WorkerRow.id.in_(ids)))
    return given


def _unlinked_trial_running(engine: Engine | None, study_id: str, claimed_at: datetime) -> bool:
    running = om.TrialModel.state == TrialState.RUNNING
    with transaction(engine) as session:
        return bool(session.scalar(unlinked_trial_of(study_id, claimed_at, running).select()))


def _hand_back_running(storage: RDBStorage, optuna_name: str, number: int) -> None:
    try:
        study = optuna.load_study(study_name=optuna_name, storage=storage)
    except KeyError:  # deleted meanwhile
        return
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id_of(study), number)
    try:
        if not storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
            return
    except optuna.exceptions.UpdateFinishedTrialError:
        return  # it finished, or handed itself back, before it was killed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        queue_retry(study, storage.get_trial(trial_id), max_retry=None)
    note_trial_error(storage.engine, trial_id, KILLED_ON_SHUTDOWN)
    log.info("trial %d of %s handed back for its killed worker", number, optuna_name)
