"""Download the best model of a completed study: weights, preprocessing and definition."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from regtune.service.api.deps import StudyDep
from regtune.service.api.schemas import ErrorResponse
from regtune.service.errors import BestModelNotFound
from regtune.service.spec.enums import StudyStatus
from regtune.service.store.db import transaction
from regtune.service.store.repos import best_model

router = APIRouter(prefix="/v1", tags=["studies"])
CHUNK = 1 << 16


def _chunks(reader: BinaryIO) -> Iterator[bytes]:
    with reader:
        while chunk := reader.read(CHUNK):
            yield chunk


@router.get(
    "/studies/{study_id}/best-model",
    response_class=StreamingResponse,
    responses={
        200: {"content": {best_model.MEDIA_TYPE: {}}, "description": "a safetensors file"},
        404: {
            "model": ErrorResponse,
            "description": "no best model (yet), or its file is not in this API's artifact store",
        },
        503: {
            "model": ErrorResponse,
            "description": "the artifact store failed to open the file (retry after Retry-After)",
        },
    },
    summary="Download the best trial's model (saved when the study completes)",
)
def download_best_model(study: StudyDep) -> StreamingResponse:
    """The file is opened before the status line is sent: a file this API cannot read is a JSON
    error, never a 200 whose body breaks off."""
    with transaction() as session:
        info: dict[str, Any] | None = best_model.read_info(session, study.optuna_study_id or -1)
        problem = None if info else best_model.read_problem(session, study.optuna_study_id or -1)
    if problem is not None:
        # the reason a worker records reads as the study's error ("no best model: …")
        why = problem.removeprefix("no best model: ")
        raise BestModelNotFound(f"study {study.id!r} has no best model: {why}")
    if info is None:
        ended = study.status in (StudyStatus.FAILED, StudyStatus.CANCELLED)
        raise BestModelNotFound(
            f"study {study.id!r} has no best model{'' if ended else ' yet'} (status "
            f"{study.status}); one is saved when a study completes with at least one COMPLETE "
            "trial"
        )
    reader = best_model.open_model(study.id, info["artifact_id"])
    return StreamingResponse(
        _chunks(reader),
        media_type=best_model.MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{info["filename"]}"',
            "Content-Length": str(info["bytes"]),
            "ETag": f'"{info["sha256"]}"',
            "X-Regtune-Trial": str(info["trial"]),
        },
    )
