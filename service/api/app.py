"""The FastAPI application: routes, error handlers, migrations and the background sweep."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import Depends, FastAPI

from regtune.service import heap
from regtune.service.api import (
    access,
    best_model,
    body,
    contract,
    datasets,
    docs,
    errors,
    head,
    health,
    keys,
    limits,
    multiprocess,
    observability,
    query,
    report,
    studies,
    warm,
    workers,
)
from regtune.service.lifetime import if_child_die_with_parent
from regtune.service.settings import Settings, get_settings, use_settings
from regtune.service.spec.definition import StudySpec
from regtune.service.store.sqlite_file import OpenedFile

log = logging.getLogger(__name__)


class Sweeper(threading.Thread):
    """Runs the stale-trial sweep on a timer; a database outage only delays it, and is logged
    once (``outage``: a warning at the first failed sweep, another only when the error changes
    or once a minute, one line when a sweep succeeds again), not at every interval."""

    def __init__(self, interval: float) -> None:
        from regtune.service.store.backoff import OutageLog

        super().__init__(name="regtune-sweep", daemon=True)
        self.interval = interval
        self.stopped = threading.Event()
        self.outage = OutageLog("sweep", logger=log)

    def run(self) -> None:
        from regtune.service.store.backoff import TRANSIENT, describe
        from regtune.service.store.scheduling.lease import sweep_lease
        from regtune.service.store.scheduling.sweep import sweep

        lease = sweep_lease(self.interval)  # one API process sweeps; the others stand by
        while not self.stopped.wait(self.interval):
            try:
                if lease.acquire():
                    sweep()
            except TRANSIENT as exc:
                self.outage.failed(exc)
            except Exception as exc:  # not the database's absence: said every time
                log.warning("sweep failed, retrying later: %s", describe(exc))
            else:
                self.outage.succeeded()
        try:
            lease.release()
        except Exception as exc:
            log.warning("could not release the sweep lease: %s", type(exc).__name__)


def _migrate_with_retry() -> None:
    from regtune.service.store.backoff import retry_forever
    from regtune.service.store.migrate import upgrade

    retry_forever(lambda: upgrade(get_settings().database_url), what="migrate the database")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    if not multiprocess.enabled():  # `regtune api` migrated before it started this process
        _migrate_with_retry()
    app.state.database_file = OpenedFile.of(get_settings().database_url)  # /readyz compares
    warming = get_settings().warm_up
    latest = None
    if warming:
        warm.prepare_routes(app)
        latest = await anyio.to_thread.run_sync(warm.read_ahead)
    if multiprocess.enabled():  # a process of `regtune api`; an app built in a test comes and goes
        if warming:
            await warm.rehearse(app, latest)
        heap.settle()  # a full collection then pauses requests for a millisecond, not tens
        await anyio.to_thread.run_sync(multiprocess.start_together)
    sweeper = app.state.sweeper = Sweeper(get_settings().sweep_interval)
    sweeper.start()
    try:
        yield
    finally:
        sweeper.stopped.set()
        sweeper.join(timeout=5)  # it hands the sweep lease over to another process


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API; with ``settings``, those instead of the environment's (in-process tests)."""
    if settings is not None:
        use_settings(settings)
    if_child_die_with_parent()  # an API process of `regtune api --workers N` ends with it
    app = FastAPI(
        title="regtune",
        version="0.1.0",
        description="Hyperparameter tuning for regularized models (elastic net, dropout MLPs).",
        lifespan=lifespan,
        docs_url=None,  # docs.install: FastAPI's page loads Swagger UI from a CDN
        redoc_url=None,  # the same, and no copy of ReDoc is shipped
        generate_unique_id_function=contract.operation_id,
        dependencies=[Depends(query.once_each)],
    )
    errors.install(app)
    app.include_router(health.router)
    app.include_router(studies.router)
    app.include_router(workers.router)
    app.include_router(best_model.router)
    app.include_router(report.router)
    app.include_router(observability.router)
    app.include_router(datasets.router)
    app.include_router(keys.router)
    docs.install(app)
    head.install(app)  # middleware: the first installed is the innermost
    limits.install(app)
    access.install(app)
    observability.install(app)  # outermost, so refused requests are logged and counted too
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            spec_schema = StudySpec.model_json_schema(
                by_alias=True, ref_template="#/components/schemas/{model}"
            )
            components.update(spec_schema.pop("$defs", {}))
            components["StudySpec"] = spec_schema
            components.update(body.components())
            access.document(schema)
            contract.document(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
