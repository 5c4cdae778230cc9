"""Download the best model of a completed study: weights, preprocessing and definition."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import IO, Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import Response, StreamingResponse

from regtune.service.api.deps import StudyDep
from regtune.service.api.schemas.errors import ErrorResponse
from regtune.service.errors import BestModelNotFound
from regtune.service.spec.enums import StudyStatus
from regtune.service.store.db import transaction
from regtune.service.store.repos import best_model, missing_models, model_files, model_lease

router = APIRouter(prefix="/v1", tags=["studies"])
CHUNK = 1 << 16
OCTET_STREAM = "application/octet-stream"
"""The file's type for a client that asks for it (``Accept``), as clients generated from the
schema know binary bodies by this type, not by regtune's own."""
OFFERED = (model_files.MEDIA_TYPE, OCTET_STREAM)
"""The types the file goes as, regtune's own first: the one sent when ``Accept`` weighs both
alike."""
BINARY: dict[str, Any] = {}
"""A binary body: OpenAPI 3.1 leaves out its schema..."""
OCTETS = {"schema": {"type": "string", "format": "binary"}}
"""...which generators read as a body of no type: ``format: binary`` is how they know a file."""
FILE_HEADERS = {
    "Content-Disposition": {
        "description": 'attachment; filename="<the best model\'s filename>"',
        "schema": {"type": "string"},
    },
    "ETag": {
        "description": "the file's SHA-256 (best_model.sha256), in quotes; as "
        f"{OCTET_STREAM}, followed by -octet-stream (each type its own tag, as a cache holding "
        "both must tell which a 304 confirms)",
        "schema": {"type": "string"},
    },
    "X-Regtune-Trial": {
        "description": "the number of the trial whose model this is",
        "schema": {"type": "integer"},
    },
}


def _chunks(reader: IO[bytes]) -> Iterator[bytes]:
    with reader:
        while chunk := reader.read(CHUNK):
            yield chunk


@router.get(
    "/studies/{study_id}/best-model",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {model_files.MEDIA_TYPE: BINARY, OCTET_STREAM: OCTETS},
            "description": f"a safetensors file, as {OCTET_STREAM} when Accept weighs that "
            f"above {model_files.MEDIA_TYPE} (its q-values, q=0 refusing a type)",
            "headers": FILE_HEADERS,
        },
        304: {
            "description": "If-None-Match names this file's ETag: the copy the client holds is "
            "the best model (no body)",
            "headers": {"ETag": FILE_HEADERS["ETag"]},
        },
        404: {
            "model": ErrorResponse,
            "description": "no best model (yet), or its file is not in this API's artifact store",
        },
        500: {
            "model": ErrorResponse,
            "description": "the file in the artifact store is not the one saved: its size or "
            "SHA-256 is not best_model's (model_file_damaged: it was changed in the store since, "
            "a retry reads the same file; the message says what differs and what an operator can "
            "do), or the service failed (internal_error): a fault of the service or of its "
            "stored data, not of the request; the service's log says what failed",
        },
        503: {
            "model": ErrorResponse,
            "description": "the artifact store failed to open or read the file "
            "(artifact_store_unavailable), or the database refused or dropped the connection "
            "(database_unavailable): try again after Retry-After",
        },
    },
    summary="Download the best trial's model (saved when the study completes)",
)
def download_best_model(
    study: StudyDep,
    accept: Annotated[str, Header(include_in_schema=False)] = "",
    if_none_match: Annotated[
        str,
        Header(
            alias="If-None-Match",
            description="ETags of copies the client holds: a 304 without the file if one is "
            "the best model's",
        ),
    ] = "",
) -> Response:
    """The file is read, and checked against its record's size and SHA-256, before the status
    line is sent: a file this API cannot read, or one changed in the store since it was saved,
    is a JSON error, never a 200 whose body breaks off or is another file under the saved one's
    ETag. A client that holds the file already (the ETag it was sent as the type ``Accept``
    chooses, in ``If-None-Match``) gets a 304 and no body, the file not read."""
    with transaction() as session:
        info: dict[str, Any] | None = best_model.read_info(session, study.optuna_study_id or -1)
        problem = (
            None if info else missing_models.read_problem(session, study.optuna_study_id or -1)
        )
    if problem is not None:
        # the reason a worker records reads as the study's error ("no best model: …")
        why = problem.removeprefix("no best model: ")
        raise BestModelNotFound(f"study {study.id!r} has no best model: {why}")
    if info is None and study.status == StudyStatus.COMPLETED:
        saving = model_lease.saving(model_lease.saver(study.optuna_study_id or -1))
        raise BestModelNotFound(f"study {study.id!r} has completed, no best model yet: {saving}")
    if info is None:
        ended = study.status in (StudyStatus.FAILED, StudyStatus.CANCELLED)
        raise BestModelNotFound(
            f"study {study.id!r} has no best model{'' if ended else ' yet'} (status "
            f"{study.status}); one is saved when a study completes with at least one COMPLETE "
            "trial"
        )
    media_type = _media_type(accept)
    validator = {"ETag": _etag(info["sha256"], media_type), "Vary": "Accept"}
    if _matches(if_none_match, validator["ETag"]):
        return Response(status_code=304, headers=validator)
    copy = best_model.read_model(study.id, study.optuna_study_id or -1, info)
    return StreamingResponse(
        _chunks(copy),
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{info["filename"]}"',
            "Content-Length": str(info["bytes"]),
            "X-Regtune-Trial": str(info["trial"]),
        }
        | validator,
    )


def _etag(sha256: str, media_type: str) -> str:
    """The file's entity tag as ``media_type``: its SHA-256 as regtune's own type, tagged with
    the other's name as that one. The bytes are the same, but a cache holding both (``Vary:
    Accept``) updates the ones whose tag a 304 names (RFC 9111 §4.3.4): one tag for both would
    have it serve either with the other's ``Content-Type``."""
    if media_type == OFFERED[0]:
        return f'"{sha256}"'
    return f'"{sha256}-{media_type.rpartition("/")[2]}"'


def _media_type(accept: str) -> str:
    """The type ``Accept`` weighs highest (RFC 9110 §12.5.1: a type weighs what the most specific
    range naming it gives, ``q=0`` refusing it), at equal weight the one named outright before
    one a wildcard reaches, then regtune's own. A header that finds neither acceptable is
    disregarded, as one naming only other types always was: the file goes as the first type it
    does not refuse (this route answers no 406)."""
    ranges = _ranges(accept)
    weights = {offered: _weight(offered, ranges) for offered in OFFERED}
    acceptable = [
        (weight, -rank, offered)
        for rank, (offered, weight) in enumerate(weights.items())
        if weight is not None and weight[0] > 0
    ]
    if acceptable:
        return max(acceptable)[2]
    return next((offered for offered, weight in weights.items() if weight is None), OFFERED[0])


def _ranges(accept: str) -> list[tuple[str, float]]:
    """``Accept``'s media ranges, lower case, each with its weight (1 when it gives none or one
    that is no number)."""
    ranges = []
    for part in accept.split(","):
        media_range, *parameters = (item.strip() for item in part.split(";"))
        if not media_range:
            continue
        weights = [
            value
            for name, _, value in (p.partition("=") for p in parameters)
            if name.strip().lower() == "q"
        ]
        ranges.append((media_range.lower(), _q(weights[0]) if weights else 1.0))
    return ranges


def _q(value: str) -> float:
    try:
        q = float(value)
    except ValueError:
        return 1.0
    return min(max(q, 0.0), 1.0) if math.isfinite(q) else 1.0


def _weight(offered: str, ranges: list[tuple[str, float]]) -> tuple[float, int] | None:
    """The weight of the most specific range that names ``offered`` and how specific it is (2:
    the type itself, 1: ``type/*``, 0: ``*/*``), or None when no range names it."""
    kind = offered.split("/")[0]
    specificity = {offered: 2, f"{kind}/*": 1, "*/*": 0}
    named = [(specificity[name], q) for name, q in ranges if name in specificity]
    if not named:
        return None
    most = max(rank for rank, _ in named)
    return next(q for rank, q in named if rank == most), most


def _matches(if_none_match: str, etag: str) -> bool:
    """``If-None-Match`` names ``etag`` (weakly compared, as RFC 9110 has it for this header),
    or is ``*``."""
    held = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in held or etag in held
