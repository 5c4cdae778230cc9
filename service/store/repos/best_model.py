"""The best model of a study as an Optuna artifact: its record (read, published, set aside while
the study runs again), the file it names opened and read, checked against it, and the chosen
trial named for the dashboard.

The worker that completes a study writes the file (``regtune.worker.best_model``); the API and the
dashboard read it through the same artifact store (``model_files``). Why a study has no model yet
is ``missing_models``'s.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import IO, Any, BinaryIO

from optuna.artifacts.exceptions import ArtifactNotFound
from optuna.storages import RDBStorage
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from regtune.service.errors import (
    ArtifactStoreUnavailable,
    BestModelFileDamaged,
    BestModelFileMissing,
    BestModelNotFound,
)
from regtune.service.settings import Settings, get_settings
from regtune.service.store.db import rowcount, transaction
from regtune.service.store.optuna_db.attrs import (
    BEST_MODEL_ATTR,
    CHOSEN_BECAUSE_ATTR,
    CHOSEN_TRIAL_ATTR,
    MODEL_FAILURES_ATTR,
    NO_MODEL_ATTR,
    PREVIOUS_MODEL_ATTR,
)
from regtune.service.store.optuna_db.internals.handles import om
from regtune.service.store.repos import model_files
from regtune.service.store.repos.missing_models import NOT_SAVED_YET
from regtune.service.store.repos.model_files import STORE_RETRY_AFTER_S
from regtune.service.store.scheduling.retries import get_storage
from regtune.service.store.tables import StudyRow

log = logging.getLogger(__name__)


def read_info(session: Session, optuna_study_id: int) -> dict[str, Any] | None:
    """The best-model record of a study, or None while there is none."""
    attr = om.StudyUserAttributeModel
    value = session.scalar(
        select(attr.value_json).where(attr.study_id == optuna_study_id, attr.key == BEST_MODEL_ATTR)
    )
    return json.loads(value) if value is not None else None


def open_model(
    study_id: str, optuna_study_id: int, artifact_id: str, settings: Settings | None = None
) -> BinaryIO:
    """A study's saved model file, opened before anything is answered; ``BestModelFileMissing``
    if this process's artifact store lacks it, which means the worker that saved it wrote to
    another store: the processes of one deployment must share one; ``BestModelNotFound`` if it
    was removed since its record was read (the study deleted, or a newer model saved: no
    warning then). ``ArtifactStoreUnavailable`` if the store failed otherwise."""
    settings = settings or get_settings()
    _, where = model_files.where_stored(settings)
    try:
        return model_files.open_artifact(artifact_id, settings)
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
        raise _store_failed("open", study_id, artifact_id, exc, settings) from exc


def read_model(
    study_id: str, optuna_study_id: int, record: dict[str, Any], settings: Settings | None = None
) -> IO[bytes]:
    """A study's saved model file as ``record`` (its best-model record) names it, read from the
    store once into a local copy before anything is answered, and the copy returned only if it
    is the file saved: ``BestModelFileDamaged`` if its size or SHA-256 is not the record's (the
    file was changed in the store since), ``ArtifactStoreUnavailable`` if the store fails while
    it is read; ``open_model``'s errors before."""
    settings = settings or get_settings()
    artifact_id = record["artifact_id"]
    reader = open_model(study_id, optuna_study_id, artifact_id, settings)
    try:
        copy, size, sha256 = model_files.copied(reader)
    except Exception as exc:  # the store's own: OSError from a file system, botocore's from S3
        raise _store_failed("read", study_id, artifact_id, exc, settings) from exc
    if size == record["bytes"] and sha256 == record["sha256"]:
        return copy
    copy.close()
    if size != record["bytes"]:
        differs = f"it holds {size:,} bytes where {record['bytes']:,} were saved"
    else:
        differs = f"its SHA-256 is not the saved one, at the same size ({size:,} bytes)"
    setting, where = model_files.where_stored(settings)
    log.warning(
        "study %s: its model file (artifact %s) in %s is not the one saved: %s (SHA-256 %s); "
        "it is not sent",
        study_id,
        artifact_id,
        where,
        differs,
        sha256,
    )
    raise BestModelFileDamaged(
        f"the model file of study {study_id!r} (artifact {artifact_id}) is not the one saved: "
        f"{differs}. It was changed in the artifact store ({setting}) after it was saved, so it "
        "is not sent as the model, and asking again reads the same file. An operator can put "
        f"the saved file back from a backup of the store, as {artifact_id} with SHA-256 "
        f"{record['sha256']}; or submit the study again for a new model"
    )


def _store_failed(
    verb: str, study_id: str, artifact_id: str, exc: Exception, settings: Settings
) -> ArtifactStoreUnavailable:
    """The store failed to ``verb`` (open, read) a study's model file: the store's location
    in the log, only its setting in the error, which any tenant reads."""
    setting, where = model_files.where_stored(settings)
    log.warning(
        "study %s: cannot %s its model file (artifact %s) in %s: %s",
        study_id,
        verb,
        artifact_id,
        where,
        exc,
    )
    return ArtifactStoreUnavailable(
        f"the artifact store ({setting}) failed to {verb} the model file of study "
        f"{study_id!r}: {type(exc).__name__}; retry in {STORE_RETRY_AFTER_S} s, and if it "
        "persists, check the store's access and health (the server's log names it)"
    )


def record_choice(
    optuna_study_id: int, *, number: int, note: str, storage: RDBStorage | None = None
) -> None:
    """Name the chosen trial, and why, where Optuna's users and optuna-dashboard look: study
    user attributes (the dashboard's "Study User Attributes")."""
    storage = storage or get_storage()
    storage.set_study_user_attr(optuna_study_id, CHOSEN_TRIAL_ATTR, number)
    storage.set_study_user_attr(optuna_study_id, CHOSEN_BECAUSE_ATTR, note)


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
        model_files.discard_artifact(
            optuna_study_id, found["artifact_id"], settings=settings, engine=engine
        )
    except ArtifactNotFound:
        pass
    except Exception as exc:  # the store's own: OSError from a file system, botocore's from S3
        log.warning(
            "the replaced model file %s could not be removed: %s", found["artifact_id"], exc
        )
