"""An app whose start-up fails, as an API process's does when its database cannot be used
(tests of the supervisor)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    raise RuntimeError("this app cannot start")
    yield


def create_app() -> FastAPI:
    return FastAPI(lifespan=_lifespan)
