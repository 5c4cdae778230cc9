"""Liveness and readiness."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from regtune.service.api.schemas.health import Health
from regtune.service.store.backoff import login_refusal, unavailable_cause
from regtune.service.store.db import get_engine
from regtune.service.store.migrate import head, schema_heads

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up; says nothing about the database."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    responses={
        503: {
            "model": Health,
            "description": "the database does not answer, or does not hold the schema this "
            "process serves (dropped, or another regtune's revision), or its SQLite file was "
            "deleted or replaced since this process opened it",
        }
    },
)
def readyz(request: Request) -> JSONResponse:
    """200 when the database answers at the schema revision this process serves, 503 while it
    does not answer or holds another revision, or none, and for good once the SQLite file this
    process opened is no longer the file at its path (a pooled connection still reaches the
    deleted file, so the database alone answered "up" while every write went to it)."""
    opened = getattr(request.app.state, "database_file", None)
    gone = opened.gone() if opened is not None else None
    if gone is not None:
        body = Health(status="unavailable", database="down", detail=f"{gone}: restart regtune")
        return JSONResponse(status_code=503, content=body.model_dump())
    try:
        with get_engine().connect() as connection:
            revisions = sorted(schema_heads(connection))
    except Exception as exc:
        # the cause in words, without the database's address, nor (an open route) the words of
        # a refused login, which name its role and database: those are in the API's log
        refused = login_refusal(exc)
        if refused is not None:
            log.warning("readiness: the database refused the login: %s", refused)
            detail = "it refused this process's login (the API's log says why)"
        else:
            detail = unavailable_cause(exc)
        body = Health(status="unavailable", database="down", detail=f"the database: {detail}")
        return JSONResponse(status_code=503, content=body.model_dump())
    if revisions != [head()]:
        detail = (
            f"the database's regtune schema is at revision {', '.join(revisions)}, where this "
            f"process serves revision {head()}: a regtune of another version migrated it"
            if revisions
            else "the database holds no regtune schema (it was dropped): regtune migrate creates it"
        )
        body = Health(status="unavailable", database="up", detail=detail)
        return JSONResponse(status_code=503, content=body.model_dump())
    return JSONResponse(status_code=200, content=Health(status="ok", database="up").model_dump())
