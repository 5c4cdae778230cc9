"""The best model of a study as an Optuna artifact: where it is stored, how to find it, which
studies still lack one and why one was not saved.

The worker that completes a study writes the file (``regtune.worker.best_model``); the API and the
dashboard read it through the same artifact store, built here from the settings.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import optuna
from optuna.artifacts import FileSystemArtifactStore, upload_artifact
from optuna.artifacts.exceptions import ArtifactNotFound
from optuna.storages import RDBStorage
from sqlalchemy import Engine, and_, delete, exists, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from regtune.service.errors import (
    ArtifactStoreUnavailable,
    BestModelFileMissing,
    BestModelNotFound,
)
from regtune.service.settings import Settings, get_settings
from regtune.service.spec.enums import StudyStatus
from regtune.service.store.clock import utcnow
from regtune.service.store.db import rowcount, transaction
from regtune.service.store.optuna_db.attrs import (
    BEST_MODEL_ATTR,
    CHOSEN_BECAUSE_ATTR,
    CHOSEN_TRIAL_ATTR,
    MODEL_FAILURES_ATTR,
    MODEL_LEASE_ATTR,
    NO_MODEL_ATTR,
    PREVIOUS_MODEL_ATTR,
)
from regtune.service.store.optuna_db.internals.artifacts import ARTIFACTS_ATTR_PREFIX, ArtifactStore
from regtune.service.store.optuna_db.internals.handles import om
from regtune.service.store.repos.model_lease import SaveLease, holding
from regtune.service.store.scheduling.retries import get_storage
from regtune.service.store.tables import StudyRow

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/vnd.regtune.model+safetensors"
STORE_RETRY_AFTER_S = 5
"""What a download the artifact store failed is told to wait (``Retry-After``)."""


def artifact_store(settings: Settings | None = None) -> ArtifactStore:
    """File system under ``artifact_dir`` by default; an S3-compatible bucket if configured."""
    settings = settings or get_settings()
    if settings.artifact_store == "s3":
        if not settings.s3_bucket:
            raise ValueError("REGTUNE_ARTIFACT_STORE=s3 needs REGTUNE_S3_BUCKET")
        import boto3
        from optuna.artifacts import Boto3ArtifactStore

        client = boto3.client("s3", endpoint_url=settings.s3_endpoint_url)
        return Boto3ArtifactStore(settings.s3_bucket, client=client)
    settings.artifact_dir.mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(settings.artifact_dir)


def _where(settings: Settings) -> tuple[str, str]:
    """The store's setting, which a tenant may read in an error, and its location (a directory,
    a bucket), which only the log shows, as a database URL stays out of a 503."""
    if settings.artifact_store == "s3":
        return "REGTUNE_S3_BUCKET", f"S3 bucket {settings.s3_bucket!r}"
    return "REGTUNE_ARTIFACT_DIR", f"REGTUNE_ARTIFACT_DIR {str(settings.artifact_dir)!r}"


def save_model(
    study: optuna.Study, study_id: str, file_path: Path, settings: Settings | None = None
) -> str:
    """Upload a study's model file; its artifact id. ``ArtifactStoreUnavailable`` if the store
    fails, saying so without its location: the message becomes the study's error, which its
    tenant reads."""
    settings = settings or get_settings()
    try:
        return upload_artifact(
            artifact_store=artifact_store(settings),
            file_path=str(file_path),
            study_or_trial=study,
            mimetype=MEDIA_TYPE,
        )
    except Exception as exc:  # the store's own: OSError from a file system, botocore's from S3
        setting, where = _where(settings)
        log.warning("study %s: cannot save its model file in %s: %s", study_id, where, exc)
        raise ArtifactStoreUnavailable(
            f"the artifact store ({setting}) failed to save the model file of study "
            f"{study_id!r}: {type(exc).__name__} (the worker's log says where and why)"
        ) from exc


def read_info(session: Session, optuna_study_id: int) -> dict[str, Any] | None:
    """The best-model record of a study, or None while there is none."""
    attr = om.StudyUserAttributeModel
    value = session.scalar(
        select(attr.value_json).where(attr.study_id == optuna_study_id, attr.key == BEST_MODEL_ATTR)
    )
    return json.loads(value) if value is not None else None


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


def open_artifact(artifact_id: str, settings: Settings | None = None) -> BinaryIO:
    """The stored file, opened; optuna's ``ArtifactNotFound`` if this process's store lacks it."""
    return artifact_store(settings).open_reader(artifact_id)


def open_model(
    study_id: str, optuna_study_id: int, artifact_id: str, settings: Settings | None = None
) -> BinaryIO:
    """A study's saved model file, opened before anything is answered; ``BestModelFileMissing``
    if this process's artifact store lacks it, which means the worker that saved it wrote to
    another store: the processes of one deployment must share one; ``BestModelNotFound`` if it
    was removed since its record was read (the study deleted, or a newer model saved: no
    warning then). ``ArtifactStoreUnavailable`` if the store failed otherwise."""
    settings = settings or get_settings()
    setting, where = _where(settings)
    try:
        return open_artifact(artifact_id, settings)
    except ArtifactNotFound:
        with transaction() as session:
            info = read_info(session, optuna_study_id)
        if info is None or info.get("artifact_id") != artifact_id:
            raise BestModelNotFound(
                f"the best model of study {study_id!r} was removed while it was read (the "
                "study was deleted, or a newer model saved): ask again"
            ) from None
        log.warning(
            "study %s: its model file (artifact %s) is not in this process's artifact store (%s):"
            " the API and the workers must share one",
            study_id,
            artifact_id,
            where,
        )
        raise BestModelFileMissing(
            f"the model file of study {study_id!r} (artifact {artifact_id}) is not in this "
            "API's artifact store (the worker that saved it wrote to another one, or the file "
            "was removed). The API and the workers must share one artifact store: the same "
            "REGTUNE_ARTIFACT_DIR volume, or the same remote store (REGTUNE_ARTIFACT_STORE=s3 "
            "with the same REGTUNE_S3_BUCKET)"
        ) from None
    except Exception as exc:  # the store's own: OSError from a file system, botocore's from S3
        log.warning(
            "study %s: cannot open its model file (artifact %s) in %s: %s",
            study_id,
            artifact_id,
            where,
            exc,
        )
        raise ArtifactStoreUnavailable(
            f"the artifact store ({setting}) failed to open the model file of study "
            f"{study_id!r}: {type(exc).__name__}; retry in {STORE_RETRY_AFTER_S} s, and if it "
            "persists, check the store's access and health (the server's log names it)"
        ) from exc


# --------------------------------------------------------------------------- saving it, or not

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


def record_choice(
    optuna_study_id: int, *, number: int, note: str, storage: RDBStorage | None = None
) -> None:
    """Name the chosen trial, and why, where Optuna's users and optuna-dashboard look: study
    user attributes (the dashboard's "Study User Attributes")."""
    storage = storage or get_storage()
    storage.set_study_user_attr(optuna_study_id, CHOSEN_TRIAL_ATTR, number)
    storage.set_study_user_attr(optuna_study_id, CHOSEN_BECAUSE_ATTR, note)


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


def publish(
    optuna_study_id: int,
    record: dict[str, Any],
    *,
    replaces: dict[str, Any] | None,
    ended_at: datetime | None,
    engine: Engine | None = None,
) -> dict[str, Any] | None:
    """Make ``record`` the study's best model if the standing one is still ``replaces``; return
    the record that stands afterwards (another saver's, if it published first), or None if the
    study's ``finished_at`` is not ``ended_at`` any more, the end the saver chose its trial at
    (the study was extended meanwhile: its next end saves a model).

    The lease keeps savers apart; this keeps the record from changing under a reader even when a
    lease ran out mid-retraining (a paused worker): the first record of a trial stands. The
    study's row is written first, only if it is still at that end, and so held until this
    commits: an extension, which sets the record aside in the transaction that opens the study
    again, comes before (nothing is published) or after (it sets this record aside).
    """
    attr = om.StudyUserAttributeModel
    where = (attr.study_id == optuna_study_id, attr.key == BEST_MODEL_ATTR)
    value = json.dumps(record)
    try:
        with transaction(engine) as session:
            if not _hold_end(session, optuna_study_id, ended_at):
                return None
            current = session.scalar(select(attr.value_json).where(*where))
            if current is None:
                session.execute(
                    insert(attr).values(
                        study_id=optuna_study_id, key=BEST_MODEL_ATTR, value_json=value
                    )
                )
                session.execute(  # a failed try's error no longer holds
                    update(StudyRow)
                    .where(
                        StudyRow.optuna_study_id == optuna_study_id,
                        StudyRow.error.startswith(NOT_SAVED_YET),
                    )
                    .values(error=None)
                    .execution_options(synchronize_session=False)
                )
                return record
            if current is not None and json.loads(current) == replaces:
                swapped = session.execute(
                    update(attr)
                    .where(*where, attr.value_json == current)
                    .values(value_json=value)
                    .execution_options(synchronize_session=False)
                )
                if rowcount(swapped):
                    return record
    except IntegrityError:
        pass  # another saver inserted the first record between the read and the insert
    with transaction(engine) as session:
        standing = read_info(session, optuna_study_id)
    return standing if standing is not None else record


def _hold_end(session: Session, optuna_study_id: int, ended_at: datetime | None) -> bool:
    """Whether the study's ``finished_at`` is still ``ended_at``, its row held by this
    transaction if it is."""
    same_end = (
        StudyRow.finished_at.is_(None) if ended_at is None else (StudyRow.finished_at == ended_at)
    )
    held = session.execute(
        update(StudyRow)
        .where(StudyRow.optuna_study_id == optuna_study_id, same_end)
        .values(updated_at=StudyRow.updated_at)
        .execution_options(synchronize_session=False)
    )
    return rowcount(held) == 1


def set_aside(session: Session, optuna_study_id: int) -> None:
    """The study is open again (``extension``): it has no best model until it ends again. Its
    record is kept as ``PREVIOUS_MODEL_ATTR`` (for ``previous``), and a failed or given-up save
    is forgotten: the next end gets its own tries."""
    user, system = om.StudyUserAttributeModel, om.StudySystemAttributeModel
    record = session.scalar(
        select(user.value_json).where(user.study_id == optuna_study_id, user.key == BEST_MODEL_ATTR)
    )
    dropped = (NO_MODEL_ATTR, MODEL_FAILURES_ATTR) + ((PREVIOUS_MODEL_ATTR,) if record else ())
    session.execute(
        delete(system)
        .where(system.study_id == optuna_study_id, system.key.in_(dropped))
        .execution_options(synchronize_session=False)
    )
    if record is None:
        return
    session.execute(
        delete(user)
        .where(user.study_id == optuna_study_id, user.key == BEST_MODEL_ATTR)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        insert(system).values(study_id=optuna_study_id, key=PREVIOUS_MODEL_ATTR, value_json=record)
    )


def previous(session: Session, optuna_study_id: int) -> dict[str, Any] | None:
    """The record set aside when the study was extended, if it was and no model replaced it."""
    system = om.StudySystemAttributeModel
    value = session.scalar(
        select(system.value_json).where(
            system.study_id == optuna_study_id, system.key == PREVIOUS_MODEL_ATTR
        )
    )
    return json.loads(value) if value is not None else None


def drop_previous(
    optuna_study_id: int,
    standing: dict[str, Any],
    *,
    settings: Settings | None = None,
    engine: Engine | None = None,
) -> None:
    """A model stands since the study was extended: the record set aside goes, and its file
    too unless ``standing`` is that file again (the same trial was chosen)."""
    system = om.StudySystemAttributeModel
    with transaction(engine) as session:
        found = previous(session, optuna_study_id)
        session.execute(
            delete(system)
            .where(system.study_id == optuna_study_id, system.key == PREVIOUS_MODEL_ATTR)
            .execution_options(synchronize_session=False)
        )
    if found is None or found["artifact_id"] == standing["artifact_id"]:
        return
    try:
        discard_artifact(optuna_study_id, found["artifact_id"], settings=settings, engine=engine)
    except ArtifactNotFound:
        pass
    except Exception as exc:  # the store's own: OSError from a file system, botocore's from S3
        log.warning(
            "the replaced model file %s could not be removed: %s", found["artifact_id"], exc
        )


def stored_artifacts(session: Session, optuna_study_id: int) -> list[str]:
    """Ids of every file uploaded to a study's artifact store (its model, and any a lost
    ``publish`` left behind)."""
    system = om.StudySystemAttributeModel
    keys = session.scalars(
        select(system.key).where(
            system.study_id == optuna_study_id, system.key.startswith(ARTIFACTS_ATTR_PREFIX)
        )
    )
    return [key.removeprefix(ARTIFACTS_ATTR_PREFIX) for key in keys]


def remove_artifacts(study_id: str, artifact_ids: list[str]) -> None:
    """Remove a deleted study's files from the artifact store: a model carries what it learned
    from its tenant's data (categories, classes, fill values). A store that fails is logged."""
    for artifact_id in artifact_ids:
        try:
            artifact_store().remove(artifact_id)
        except ArtifactNotFound:
            continue
        except Exception as exc:  # the store's own: OSError from a file system, botocore's
            log.warning(
                "study %s was deleted but its artifact %s could not be removed: %s",
                study_id,
                artifact_id,
                exc,
            )


def discard_artifact(
    optuna_study_id: int,
    artifact_id: str,
    *,
    settings: Settings | None = None,
    engine: Engine | None = None,
) -> None:
    """Remove an uploaded model no record points to (its saver lost ``publish``): from the
    artifact store and from the study's artifact list, which optuna-dashboard shows."""
    system = om.StudySystemAttributeModel
    with transaction(engine) as session:
        session.execute(
            delete(system)
            .where(
                system.study_id == optuna_study_id,
                system.key == ARTIFACTS_ATTR_PREFIX + artifact_id,
            )
            .execution_options(synchronize_session=False)
        )
    artifact_store(settings).remove(artifact_id)
