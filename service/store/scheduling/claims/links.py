"""A trial linked to the claim it runs under (``link_trial``), and the queries that follow
the link from a claim to its trials."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from optuna.trial import TrialState
from sqlalchemy import Engine, String, and_, cast, or_, select
from sqlalchemy.orm import aliased

from regtune.service.store.db import transaction
from regtune.service.store.optuna_db.attrs import CLAIM_ATTR, PATH_CLAIM_PREFIX, RETRY_OF_ATTR
from regtune.service.store.optuna_db.internals.expressions import (
    trial_completed_utc,
    trial_started_utc,
)
from regtune.service.store.optuna_db.internals.handles import backend_of, om
from regtune.service.store.optuna_db.internals.running_writes import RunningTrialWrites
from regtune.service.store.scheduling.claims.slot import Claim, held, path_claim_key
from regtune.service.store.tables import ClaimRow, StudyRow


def link_trial(
    storage: Any,
    trial_id: int,
    claim: Claim,
    engine: Engine | None = None,
    *,
    attrs: dict[str, Any] | None = None,
) -> bool:
    """Mark the trial as running under ``claim``; False if the claim was released meanwhile
    (even if SQLite gave its id to a claim taken since: ``held``).

    The trial's heartbeat is recorded first, so a linked RUNNING trial can always go stale; from
    then on the sweep keeps the slot for as long as the trial runs (``release_dead_workers``).
    With regtune's storage the heartbeat, the link, the trial's other system ``attrs`` and the
    check are one transaction.
    """
    linked = {**(attrs or {}), CLAIM_ATTR: claim.id}
    still = select(ClaimRow.id).where(*held(claim.id, study_id=claim.study_id, seq=claim.seq))
    backend = backend_of(storage)
    if isinstance(backend, RunningTrialWrites):
        return bool(backend.start_trial(trial_id, linked, still))
    storage.record_heartbeat(trial_id)
    for key, value in linked.items():
        storage.set_trial_system_attr(trial_id, key, value)
    with transaction(engine) as session:
        return session.scalar(still) is not None


def _trial_of(claim_id: int, *where: Any) -> Any:
    """Whether a trial linked to this claim (``CLAIM_ATTR``, or a λ path's
    ``path_claim_key``) meets ``where``."""
    attr = om.TrialSystemAttributeModel
    linked = or_(
        and_(attr.key == CLAIM_ATTR, attr.value_json == json.dumps(claim_id)),
        attr.key == path_claim_key(claim_id),
    )
    return (
        select(attr.trial_id)
        .join(om.TrialModel, om.TrialModel.trial_id == attr.trial_id)
        .where(linked, *where)
        .exists()
    )


def running_trial_of(claim_id: int) -> Any:
    return _trial_of(claim_id, om.TrialModel.state == TrialState.RUNNING)


def retry_in_flight(claim_id: int, claimed_at: datetime, since: datetime) -> Any:
    """Whether a trial of this claim failed at or after ``since`` and its retry is not queued yet.

    Failing a stale trial and queuing its retry are two writes (Optuna's ``fail_stale_trials``,
    then the storage's callback). A slot given back between the two goes to a fresh trial; once
    that spends the budget, the retry lands on an ended study and is failed unrun. So the slot
    waits for the retry; ``since`` bounds the wait when whoever failed the trial died before
    queuing the retry (or no retry is due: the objective raised, retries ran out).
    """
    return _trial_of(claim_id, *_unretried_failure(claimed_at, since))


def _unretried_failure(claimed_at: datetime, since: datetime) -> tuple[Any, ...]:
    """The conditions of ``retry_in_flight`` on a trial started under a claim taken at
    ``claimed_at``."""
    trial, retry = om.TrialModel, aliased(om.TrialSystemAttributeModel)
    queued = select(retry.trial_id).where(
        retry.key == RETRY_OF_ATTR, retry.value_json == cast(trial.trial_id, String)
    )
    return (
        trial.state == TrialState.FAIL,
        trial_started_utc() >= claimed_at,
        trial_completed_utc() >= since,
        ~queued.exists(),
    )


def unlinked_trial_of(study_id: str, claimed_at: datetime, *where: Any) -> Any:
    """Whether the study has a trial linked to no claim, started at or after ``claimed_at``,
    that meets ``where``.

    A worker killed after Optuna set its trial RUNNING and before ``link_trial`` leaves such a
    trial: nothing names its claim, so the queries above do not see it. A live worker's trial
    is unlinked only for the moment between the two writes.
    """
    trial, attr = om.TrialModel, om.TrialSystemAttributeModel
    linked = select(attr.trial_id).where(
        attr.trial_id == trial.trial_id,
        or_(attr.key == CLAIM_ATTR, attr.key.startswith(PATH_CLAIM_PREFIX)),
    )
    optuna_study = select(StudyRow.optuna_study_id).where(StudyRow.id == study_id)
    return (
        select(trial.trial_id)
        .where(
            trial.study_id == optuna_study.scalar_subquery(),
            trial_started_utc() >= claimed_at,
            ~linked.exists(),
            *where,
        )
        .exists()
    )


def unlinked_trial_in_flight(study_id: str, claimed_at: datetime, since: datetime) -> Any:
    """Whether the study has an unlinked trial (``unlinked_trial_of``) that is RUNNING or whose
    retry is in flight (``retry_in_flight``).

    The sweep fails such a trial (it never beat) a grace period after it started: later than
    its dead worker's silence would free the slot, so a claim of a dead worker keeps its slot
    while its study has one, and the next claim runs the retry, not a fresh trial. A dead slot
    of a study where a live worker is between the two writes waits one sweep more.
    """
    running = om.TrialModel.state == TrialState.RUNNING
    return unlinked_trial_of(
        study_id, claimed_at, or_(running, and_(*_unretried_failure(claimed_at, since)))
    )


def any_trial_of(claim_id: int, claimed_at: datetime) -> Any:
    """Whether a trial started under this claim (SQLite reuses the ids of deleted claims, so a
    trial linked to an older claim of the same id, started before this one, does not count)."""
    return _trial_of(claim_id, trial_started_utc() >= claimed_at).select()
