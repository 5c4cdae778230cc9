"""Cancelling a study (no more scheduling) and deleting it with its trials and model file."""

from __future__ import annotations

import contextlib

import optuna
from sqlalchemy import Engine, func, select, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from regtune.service.errors import StudyNotActive, StudyNotFound, StudyRunning
from regtune.service.spec.enums import ACTIVE, StudyStatus
from regtune.service.store.clock import utcnow
from regtune.service.store.db import rowcount, transaction
from regtune.service.store.optuna_db.internals.handles import om
from regtune.service.store.repos import model_files
from regtune.service.store.repos.studies import Reach, forget, get_row
from regtune.service.store.scheduling.retries import get_storage
from regtune.service.store.tables import ClaimRow, StudyRow, WorkerRow
from regtune.service.store.trials import stats


def cancel(study_id: str, *, tenant: Reach = "default") -> StudyRow:
    """Stop scheduling the study; a study cancelled already is answered as it is (a retried
    cancel succeeds), one that completed or failed is ``StudyNotActive``."""
    row = get_row(study_id, tenant=tenant)
    now = utcnow()
    with transaction() as session:
        won = rowcount(
            session.execute(
                update(StudyRow)
                .where(StudyRow.id == row.id, StudyRow.status.in_(ACTIVE))
                .values(status=StudyStatus.CANCELLED, finished_at=now, updated_at=now)
                .execution_options(synchronize_session=False)
            )
        )
    forget(study_id)
    now_row = get_row(study_id, tenant=tenant)
    if won != 1 and now_row.status != StudyStatus.CANCELLED:
        raise StudyNotActive(
            f"study {study_id!r} has already {now_row.status}: only a queued or running study "
            "can be cancelled"
        )
    return now_row


def delete(study_id: str, *, tenant: Reach = "default") -> None:
    """Delete the study, its Optuna study, every trial and its model file; ``StudyRunning``
    while trials run.

    One conditional UPDATE stops scheduling only if no slot is held, so a trial can neither be
    running nor start while its Optuna rows are deleted (a worker writing to a trial being
    deleted is what left Optuna studies behind). A refused delete changes nothing.
    """
    row = get_row(study_id, tenant=tenant)
    with transaction() as session:
        won = rowcount(
            session.execute(
                update(StudyRow)
                .where(StudyRow.id == row.id, StudyRow.n_running == 0)
                .values(status=StudyStatus.CANCELLED, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        )
        refusal = None if won == 1 else _still_running(session, study_id, row.id)
    forget(study_id)
    if refusal is not None:
        raise StudyRunning(refusal)
    # The row goes first, with the tallies of its trials kept for /metrics in the same
    # transaction: a scrape sees the study or its tallies, never both, never neither, and no
    # sweep takes a row whose Optuna study is half deleted for one deleted outside regtune.
    # A process killed before the Optuna study is deleted leaves it to the sweep's
    # remove_orphaned_optuna_studies.
    files: list[str] = []
    with transaction() as session:
        gone = rowcount(session.execute(sql_delete(StudyRow).where(StudyRow.id == row.id)))
        if gone and row.optuna_study_id is not None:
            files = model_files.stored_artifacts(session, row.optuna_study_id)
            stats.retire(session, stats.tallies_of(session, row.optuna_study_id))
    forget(study_id)
    if not gone:
        return  # another delete of it came first, and deletes the rest
    with contextlib.suppress(KeyError):
        optuna.delete_study(study_name=row.optuna_name, storage=get_storage())
    model_files.remove_artifacts(study_id, files)


def _still_running(session: Session, study_id: str, row_id: str) -> str:
    """Why a study whose trials run cannot be deleted yet, and when it can: a study still
    active must be cancelled first; a cancelled (or otherwise ended) one's trials stop at their
    workers' next heartbeat, which brings them the news (every ``heartbeat_interval`` seconds
    its workers registered)."""
    found = session.execute(
        select(StudyRow.status, StudyRow.n_running).where(StudyRow.id == row_id)
    ).one_or_none()
    if found is None:  # another delete of it came first
        raise StudyNotFound(f"no study with id {study_id!r}")
    status, running = found
    if StudyStatus(status) in ACTIVE:
        return (
            f"study {study_id!r} has {running} trial(s) running; cancel it first "
            f"(regtune cancel {study_id}, or POST /v1/studies/{study_id}/cancel; running trials "
            "stop within a worker heartbeat interval), "
            "then delete it"
        )
    interval = session.scalar(
        select(func.max(WorkerRow.heartbeat_interval))
        .join(ClaimRow, ClaimRow.worker_id == WorkerRow.id)
        .where(ClaimRow.study_id == row_id)
    )
    every = "" if interval is None else f" (every {interval} s)"
    stops = (
        "its running trial stops at its worker's"
        if running == 1
        else f"its {running} running trials stop at their workers'"
    )
    return f"study {study_id!r} is {status}: {stops} next heartbeat{every}; delete it then"


def gone(study_id: str, optuna_study_id: int, engine: Engine | None = None) -> bool:
    """Whether the study is deleted: its row, or its Optuna study (deleted first, or outside
    regtune); False when that cannot be read (the caller's own error stands)."""
    try:
        with transaction(engine) as session:
            return (
                session.get(StudyRow, study_id) is None
                or session.get(om.StudyModel, optuna_study_id) is None
            )
    except SQLAlchemyError:
        return False
