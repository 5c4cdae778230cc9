"""Studies without a best model: which the catch-up saves next, and why one has none (its
failed tries and their back-off, a save given up, no trial to save)."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from optuna.storages import RDBStorage
from sqlalchemy import Engine, and_, exists, select, update
from sqlalchemy.orm import Session, aliased

from regtune.service.spec.enums import StudyStatus
from regtune.service.store.clock import utcnow
from regtune.service.store.db import transaction
from regtune.service.store.optuna_db.attrs import (
    BEST_MODEL_ATTR,
    MODEL_FAILURES_ATTR,
    MODEL_LEASE_ATTR,
    NO_MODEL_ATTR,
)
from regtune.service.store.optuna_db.internals.handles import om
from regtune.service.store.repos.model_lease import SaveLease, holding
from regtune.service.store.scheduling.retries import get_storage
from regtune.service.store.tables import StudyRow

NOT_SAVED_YET = "best model not saved yet"
"""How the study's error begins while a failed save waits for its next try (cleared once the
model is saved)."""
GAVE_UP = "best model not saved: gave up"
"""How it begins once the saves are given up."""
NO_MODEL = "no best model:"
"""How it begins when no trial can give a model (the worker says why)."""


def is_model_error(error: str) -> bool:
    """Whether a completed study's ``error`` is its best model's, written after it completed;
    anything else there is a trial's error an older release left (a completing study's error is
    cleared: ``finishing.settle``)."""
    return error.startswith((NOT_SAVED_YET, GAVE_UP, NO_MODEL))


MAX_ATTEMPTS = 3
"""Tries at saving one study's model before it is given up (the reason stays on the study)."""
RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=10))
"""Wait after the 1st, 2nd... failed try before the catch-up tries that study again."""
CANDIDATES = 50
"""Studies looked at per catch-up query; those backing off or leased are skipped in Python."""


def studies_missing_a_model(
    engine: Engine | None = None,
    *,
    limit: int = 1,
    now: datetime | None = None,
    skip: Collection[str] = (),
) -> list[str]:
    """Completed studies with neither a saved model nor the word why they have none, newest
    first, but for ``skip`` (studies the caller cannot read).

    The worker whose finish completes a study saves its model, or says why there is none (no
    COMPLETE trial); when the study completed some other way (the sweep released the last
    slot, the deadline passed, that worker died while retraining), an idle worker catches up
    here, saving the model or, with nothing to retrain, writing that word. A study marked as
    getting no model (no usable trial, or too many failed tries) is skipped for good, one whose
    last try failed until its back-off passed: one bad study never holds up the others.
    """
    now = now or utcnow()
    attrs = om.StudyUserAttributeModel
    system = om.StudySystemAttributeModel
    failed, leased, marks = aliased(system), aliased(system), aliased(system)
    with transaction(engine) as session:
        rows = session.execute(
            select(StudyRow.id, failed.value_json, leased.value_json)
            .outerjoin(
                failed,
                and_(
                    failed.study_id == StudyRow.optuna_study_id,
                    failed.key == MODEL_FAILURES_ATTR,
                ),
            )
            .outerjoin(
                leased,
                and_(leased.study_id == StudyRow.optuna_study_id, leased.key == MODEL_LEASE_ATTR),
            )
            .where(
                StudyRow.status == StudyStatus.COMPLETED,
                StudyRow.optuna_study_id.is_not(None),
                ~exists().where(
                    attrs.study_id == StudyRow.optuna_study_id,
                    attrs.key == BEST_MODEL_ATTR,
                ),
                ~exists().where(
                    marks.study_id == StudyRow.optuna_study_id,
                    marks.key == NO_MODEL_ATTR,
                ),
            )
            .order_by(StudyRow.finished_at.desc())
            .limit(max(limit, CANDIDATES))
        ).all()
    leases = {sid: SaveLease.read(lease) for sid, _, lease in rows if lease is not None}
    held = holding(leases.values(), now=now, engine=engine)
    due = [
        sid
        for sid, failures, _ in rows
        if sid not in skip
        and (failures is None or _retry_due(failures, now))
        and (sid not in leases or leases[sid].owner not in held)
    ]
    return due[:limit]


def _retry_due(failures_json: str, now: datetime) -> bool:
    retry_after = json.loads(failures_json).get("retry_after")
    return retry_after is None or datetime.fromisoformat(retry_after) <= now


def _record(
    study_id: str,
    optuna_study_id: int,
    key: str,
    value: dict[str, Any],
    error: str,
    *,
    engine: Engine | None,
    storage: RDBStorage | None,
) -> None:
    """Keep why a study has no model: on its Optuna study (for the catch-up) and its row;
    nothing for a study deleted meanwhile."""
    try:
        (storage or get_storage()).set_study_system_attr(optuna_study_id, key, value)
    except KeyError:  # Optuna's "Record does not exist.": its row goes next, if not gone
        return
    with transaction(engine) as session:
        session.execute(
            update(StudyRow)
            .where(StudyRow.id == study_id)
            .values(error=error[:2000])
            .execution_options(synchronize_session=False)
        )


def mark_no_model(
    study_id: str,
    optuna_study_id: int,
    *,
    reason: str,
    engine: Engine | None = None,
    storage: RDBStorage | None = None,
) -> None:
    """The study will get no model (no usable trial): the catch-up never looks at it again."""
    value = {"reason": reason, "attempts": 0}
    _record(study_id, optuna_study_id, NO_MODEL_ATTR, value, reason, engine=engine, storage=storage)


def record_failure(
    study_id: str,
    optuna_study_id: int,
    *,
    error: str,
    engine: Engine | None = None,
    storage: RDBStorage | None = None,
) -> None:
    """One more failed try at saving the model: back off, or give up after ``MAX_ATTEMPTS``;
    nothing for a study deleted meanwhile (no model to save, no try to count)."""
    storage = storage or get_storage()
    try:
        previous = storage.get_study_system_attrs(optuna_study_id)
    except KeyError:  # Optuna's "Record does not exist."
        return
    attempts = int(previous.get(MODEL_FAILURES_ATTR, {}).get("attempts", 0)) + 1
    if attempts >= MAX_ATTEMPTS:
        reason = f"{GAVE_UP} after {attempts} attempts; last error: {error}"
        value = {"reason": reason, "attempts": attempts}
        _record(
            study_id, optuna_study_id, NO_MODEL_ATTR, value, reason, engine=engine, storage=storage
        )
        return
    delay = RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]
    failures = {
        "attempts": attempts,
        "error": error[:2000],
        "retry_after": (utcnow() + delay).isoformat(),
    }
    message = f"{NOT_SAVED_YET} (attempt {attempts} of {MAX_ATTEMPTS}): {error}"
    _record(
        study_id,
        optuna_study_id,
        MODEL_FAILURES_ATTR,
        failures,
        message,
        engine=engine,
        storage=storage,
    )


def read_problem(session: Session, optuna_study_id: int) -> str | None:
    """Why a study has no best model although it may have: its save failed (and is retried
    after a back-off) or was given up; None if no save failed."""
    system = om.StudySystemAttributeModel
    found: dict[str, str] = dict(
        session.execute(
            select(system.key, system.value_json).where(
                system.study_id == optuna_study_id,
                system.key.in_((NO_MODEL_ATTR, MODEL_FAILURES_ATTR)),
            )
        ).all()
    )
    if NO_MODEL_ATTR in found:
        return str(json.loads(found[NO_MODEL_ATTR])["reason"])
    if MODEL_FAILURES_ATTR in found:
        failures = json.loads(found[MODEL_FAILURES_ATTR])
        return (
            f"{NOT_SAVED_YET} (attempt {failures['attempts']} of {MAX_ATTEMPTS}, "
            f"tried again after {failures['retry_after']} UTC): {failures['error']}"
        )
    return None
