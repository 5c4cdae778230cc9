"""GET /metrics (Prometheus) and one JSON log line per request, tagged with study and trial."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterator

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Histogram,
    generate_latest,
)
from prometheus_client.core import Metric

from service import logs
from service.api.deps import OperatorDep
from service.api.prometheus import DatabaseCollector
from service.api.schemas import ErrorResponse

log = logging.getLogger("regtune.access")
router = APIRouter(tags=["health"])
_STUDY_PATH = re.compile(r"^/v1/studies/([^/]+)(?:/trials/(\d+))?")

REQUEST_SECONDS = Histogram(
    "regtune_http_request_duration_seconds",
    "API request latency by route template and status.",
    ["method", "route", "status"],
)


class _Registry(CollectorRegistry):
    """This process's own metrics (requests, Python process) plus the database-backed ones."""

    def __init__(self) -> None:
        super().__init__(auto_describe=True)
        self.register(DatabaseCollector())

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
        yield from super().collect()


_registry: _Registry | None = None


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics (pool-wide: the admin key when keys are on)",
    responses={403: {"model": ErrorResponse, "description": "a tenant's key"}},
)
def metrics(_: OperatorDep) -> Response:
    global _registry
    if _registry is None:
        _registry = _Registry()
    return Response(generate_latest(_registry), media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI) -> None:
    """Log every request once (method, route, status, duration) with its study and trial ids."""

    @app.middleware("http")
    async def _access(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        match = _STUDY_PATH.match(request.url.path)
        study_id = match.group(1) if match else None
        trial = int(match.group(2)) if match and match.group(2) else None
        started = time.perf_counter()
        with logs.context(study_id=study_id, trial=trial):
            status = 500
            try:
                response = await call_next(request)
                status = response.status_code
                return response
            finally:
                seconds = time.perf_counter() - started
                route = getattr(request.scope.get("route"), "path", "unmatched")
                REQUEST_SECONDS.labels(request.method, route, str(status)).observe(seconds)
                log.info(
                    "%s %s %d %.1fms",
                    request.method,
                    request.url.path,
                    status,
                    seconds * 1000,
                    extra={"status": status, "duration_ms": round(seconds * 1000, 2)},
                )
