"""optuna-dashboard served by regtune: its WSGI app on the standard library's server, as its
own ``run_server`` serves it (through Bottle's wsgiref adapter), but with one access line per
request through regtune's logging (JSON off a terminal, like every other line) where wsgiref
printed Apache-style lines and Bottle its banner straight to stderr."""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

    from regtune.service.settings import Settings
    from regtune.service.store.optuna_db.internals.artifacts import ArtifactStore

log = logging.getLogger("regtune.dashboard")
access = logging.getLogger("regtune.dashboard.access")


IDLE_SECONDS = 30
"""How long the dashboard waits on a connection that sends nothing (a browser's preconnect)
before it drops it: wsgiref serves one connection at a time."""


class _LoggedRequests(WSGIRequestHandler):
    """Each request as the API logs one: ``GET /api/studies 200 3.1ms``, with ``status`` and
    ``duration_ms``; what wsgiref would print otherwise (a malformed request) as a warning."""

    _started = 0.0
    timeout = IDLE_SECONDS  # a connection that sends nothing holds the one-at-a-time loop

    def handle(self) -> None:
        self._started = time.perf_counter()
        super().handle()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        ms = (time.perf_counter() - self._started) * 1000
        status = int(code) if str(code).isdigit() else 0
        method = getattr(self, "command", None) or "-"
        path = urlsplit(getattr(self, "path", "") or "").path or "-"
        access.info(
            "%s %s %d %.1fms",
            method,
            path,
            status,
            ms,
            extra={"status": status, "duration_ms": round(ms, 2)},
        )

    def log_message(self, format: str, *args: Any) -> None:
        log.warning("%s: %s", self.address_string(), format % args)


def every_tenant_warning(settings: Settings) -> str | None:
    """What the dashboard says as it starts when API keys are on (``REGTUNE_ADMIN_KEY`` set, or
    a tenant key stored), else None: it reads Optuna's storage as it is, every tenant's studies,
    and asks for no key, so it is the operator's, as the database itself is."""
    from sqlalchemy.exc import SQLAlchemyError

    from regtune.service.store.repos.keys import keys_configured

    try:
        on = keys_configured(settings)
    except SQLAlchemyError:  # no regtune tables (a database no API migrated yet): no key either
        on = False
    if not on:
        return None
    why = "REGTUNE_ADMIN_KEY is set" if settings.admin_key is not None else "tenant keys exist"
    return (
        f"API keys are on ({why}), but optuna-dashboard asks for none: it shows every tenant's "
        "studies, and can change and delete them, to whoever reaches its port, as direct "
        "access to the database does; it is an operator's tool, keep its port to operators"
    )


def serve_dashboard(
    storage: BaseStorage, *, host: str, port: int, artifact_store: ArtifactStore | None
) -> None:
    """Serve until Ctrl-C (then return quietly, as optuna-dashboard does) or SIGTERM.

    Ctrl-C stops the loop after the request it came in, if any: raised inside a request, its
    KeyboardInterrupt was caught by wsgiref's error handling (a traceback in the log) and the
    dashboard served on. A connection that sends nothing is dropped after ``IDLE_SECONDS``, and
    a second Ctrl-C stops at once."""
    from optuna_dashboard import wsgi

    app = wsgi(storage, artifact_store=artifact_store)
    server = make_server(host, port, app, server_class=WSGIServer, handler_class=_LoggedRequests)
    log.info("optuna-dashboard on http://%s:%d/dashboard", host, port)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        # shutdown() waits for the loop to end, so not from the loop's own thread; a second
        # Ctrl-C, while a connection that sends nothing holds the loop, interrupts at once
        signal.signal(signal.SIGINT, signal.default_int_handler)
        threading.Thread(target=server.shutdown, name="dashboard-stop", daemon=True).start()

    # only where Ctrl-C is Python's to take: the main thread, SIGINT not ignored (a background job)
    main = threading.current_thread() is threading.main_thread()
    ours = main and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    previous = signal.signal(signal.SIGINT, stop) if ours else None
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if ours:
            signal.signal(signal.SIGINT, previous)
        server.server_close()
