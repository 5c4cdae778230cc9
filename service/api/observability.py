"""GET /metrics (Prometheus) and one JSON log line per request, tagged with study and trial."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterator
from contextvars import ContextVar

from fastapi import APIRouter, FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from regtune.service import logs
from regtune.service.api import multiprocess
from regtune.service.api.deps import OperatorDep
from regtune.service.api.prometheus import DatabaseCollector
from regtune.service.api.schemas.errors import ErrorResponse
from regtune.service.settings import get_settings

log = logging.getLogger("regtune.access")
router = APIRouter(tags=["health"])
_STUDY_PATH = re.compile(r"^/v1/studies/([^/]+)(?:/trials/([0-9]{1,19})(?![0-9]))?")
r"""A study's id and a trial's number, for a request's log context: ASCII digits, as the route
reads them (``\d`` took ``٣`` for 3, which the route refuses), and 19 at most, as a longer
number is no trial's and ``int`` refuses one of 4,301 (the route says so)."""

_unrecorded: ContextVar[bool] = ContextVar("regtune_unrecorded", default=False)

REQUEST_SECONDS = Histogram(
    "regtune_http_request_duration_seconds",
    "API request latency by route template and status.",
    ["method", "route", "status"],
)


API_PROCESSES = Gauge(
    "regtune_api_processes",
    "API processes serving, one series per process (pid) of regtune api --workers N.",
    multiprocess_mode="liveall",
)


class _Registry(CollectorRegistry):
    """The request metrics plus the database-backed ones.

    Under ``regtune api`` the request metrics are every API process's, summed from the shared
    directory (``regtune.service.api.multiprocess``); otherwise (an app built in a test) this
    process's, with its Python process metrics.
    """

    def __init__(self) -> None:
        super().__init__(auto_describe=True)
        self.register(DatabaseCollector())
        self.shared = MultiProcessCollector(None) if multiprocess.enabled() else None

    def collect(self) -> Iterator[Metric]:
        yield from (self.shared or REGISTRY).collect()
        yield from super().collect()


_registry: _Registry | None = None


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics (pool-wide: the admin key when keys are on)",
    responses={
        200: {
            "description": "the Prometheus text format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        403: {"model": ErrorResponse, "description": "a tenant's key"},
    },
)
def metrics(_: OperatorDep) -> Response:
    return Response(generate_latest(registry()), media_type=CONTENT_TYPE_LATEST)


def registry() -> _Registry:
    """The registry /metrics reads; its first collection folds in every finished trial."""
    global _registry
    if _registry is None:
        _registry = _Registry()
    return _registry


@contextlib.contextmanager
def unrecorded() -> Iterator[None]:
    """Requests this process sends itself inside (in-process, in this context: the warm-up's)
    are served as any other but neither logged nor counted: no client made them. A context
    variable, not a header, so that no client can hide its requests."""
    token = _unrecorded.set(True)
    try:
        yield
    finally:
        _unrecorded.reset(token)


class AccessLog:
    """Log every request once (method, route, status, duration) with its study and trial ids,
    and count it in ``REQUEST_SECONDS``; but the process's own (``unrecorded``).

    Plain ASGI rather than ``@app.middleware("http")``, whose per-request task and stream
    wrapping cost more than the cheapest routes themselves.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _unrecorded.get():
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        match = _STUDY_PATH.match(path)
        study_id = match.group(1) if match else None
        trial = int(match.group(2)) if match and match.group(2) else None
        status = 500
        started = time.perf_counter()

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with logs.context(study_id=study_id, trial=trial):
            try:
                await self.app(scope, receive, sent)
            finally:
                seconds = time.perf_counter() - started
                route = getattr(scope.get("route"), "path", None) or _template(scope)
                REQUEST_SECONDS.labels(scope["method"], route, str(status)).observe(seconds)
                if log.isEnabledFor(logging.INFO):
                    log.info(
                        "%s %s %d %.1fms",
                        scope["method"],
                        path,
                        status,
                        seconds * 1000,
                        extra={"status": status, "duration_ms": round(seconds * 1000, 2)},
                    )


def _template(scope: Scope) -> str:
    """The route template of a request answered before routing (a 401, or the key check's 503
    in an outage: all counted as ``unmatched`` before), as the OpenAPI schema writes its path;
    ``unmatched`` for a path no operation has."""
    app = scope.get("app")
    path = scope["path"]
    if isinstance(app, FastAPI):
        for pattern, template in _templates(app):
            if pattern.match(path):
                return template
    return "unmatched"


def _templates(app: FastAPI) -> list[tuple[re.Pattern[str], str]]:
    """The app's path templates, compiled once and kept with the app (not in a process-wide
    cache that would keep every app a test process builds)."""
    found: list[tuple[re.Pattern[str], str]] | None = getattr(app.state, "route_templates", None)
    if found is None:
        found = [(compile_path(template)[0], template) for template in app.openapi()["paths"]]
        app.state.route_templates = found
    return found


def install(app: FastAPI) -> None:
    """Log each request; in a process that has no logging yet (one of ``regtune api
    --workers N``'s, which start afresh), first set it up as ``regtune`` does."""
    if not logging.getLogger().handlers:
        settings = get_settings()
        logs.setup(fmt=settings.log_format, level=settings.log_level)
    API_PROCESSES.set(1)
    app.add_middleware(AccessLog)
