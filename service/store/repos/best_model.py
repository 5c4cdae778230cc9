"""The best model of a study as an Optuna artifact: where it is stored and how to find it.

The worker that completes a study writes the file (``worker/artifacts.py``); the API and the
dashboard read it through the same artifact store, built here from the settings.
"""

from __future__ import annotations

import json
from typing import Any, BinaryIO

from optuna.artifacts import FileSystemArtifactStore
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.settings import Settings, get_settings
from service.store.optuna_db.attrs import BEST_MODEL_ATTR
from service.store.optuna_db.internals import ArtifactStore, om

MEDIA_TYPE = "application/vnd.regtune.model+safetensors"


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


def read_info(session: Session, optuna_study_id: int) -> dict[str, Any] | None:
    """The best-model record of a study, or None while there is none."""
    attr = om.StudyUserAttributeModel
    value = session.scalar(
        select(attr.value_json).where(attr.study_id == optuna_study_id, attr.key == BEST_MODEL_ATTR)
    )
    return json.loads(value) if value is not None else None


def open_artifact(artifact_id: str, settings: Settings | None = None) -> BinaryIO:
    return artifact_store(settings).open_reader(artifact_id)
