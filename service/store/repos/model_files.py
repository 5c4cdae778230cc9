"""The best model's files in the artifact store: the store, saving, opening, copying and removing
them."""

from __future__ import annotations

import hashlib
import logging
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import IO, BinaryIO

import optuna
from optuna.artifacts import FileSystemArtifactStore, upload_artifact
from optuna.artifacts.exceptions import ArtifactNotFound
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from regtune.service.errors import ArtifactStoreUnavailable
from regtune.service.settings import Settings, get_settings
from regtune.service.store.db import transaction
from regtune.service.store.optuna_db.internals.artifacts import ARTIFACTS_ATTR_PREFIX, ArtifactStore
from regtune.service.store.optuna_db.internals.handles import om

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/vnd.regtune.model+safetensors"
STORE_RETRY_AFTER_S = 5
"""What a download the artifact store failed is told to wait (``Retry-After``)."""
SPOOL_BYTES = 4 << 20
"""How much of a file ``copied`` holds in memory; a larger one goes on to a temporary file."""
CHUNK = 1 << 16


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


def where_stored(settings: Settings) -> tuple[str, str]:
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
        setting, where = where_stored(settings)
        log.warning("study %s: cannot save its model file in %s: %s", study_id, where, exc)
        raise ArtifactStoreUnavailable(
            f"the artifact store ({setting}) failed to save the model file of study "
            f"{study_id!r}: {type(exc).__name__} (the worker's log says where and why)"
        ) from exc


def open_artifact(artifact_id: str, settings: Settings | None = None) -> BinaryIO:
    """The stored file, opened; optuna's ``ArtifactNotFound`` if this process's store lacks it."""
    return artifact_store(settings).open_reader(artifact_id)


def copied(reader: BinaryIO) -> tuple[IO[bytes], int, str]:
    """The file ``reader`` reads, read to its end once (a store's reader may not seek: S3's
    streams) and closed: a local copy of it, rewound (in memory up to ``SPOOL_BYTES``, then a
    temporary file), with its size and SHA-256. The store's errors while reading go on to the
    caller, the copy discarded."""
    digest, size = hashlib.sha256(), 0
    with ExitStack() as until_read, reader:
        copy = until_read.enter_context(tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES))
        while chunk := reader.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            copy.write(chunk)
        until_read.pop_all()  # read whole: the copy stays open for its caller
    copy.seek(0)
    return copy, size, digest.hexdigest()


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
