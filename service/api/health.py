"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from regtune.service.api.schemas import Health
from regtune.service.store.db import get_engine

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up; says nothing about the database."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: {"model": Health, "description": "the database does not answer"}},
)
def readyz() -> JSONResponse:
    """200 when the database answers, 503 while it does not."""
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        body = Health(status="unavailable", database="down", detail=type(exc).__name__)
        return JSONResponse(status_code=503, content=body.model_dump())
    return JSONResponse(status_code=200, content=Health(status="ok", database="up").model_dump())
