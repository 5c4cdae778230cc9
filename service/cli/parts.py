"""Running the parts: migrate, api, worker, dashboard, and all of them at once (serve)."""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer
from rich.text import Text

from regtune.service.cli.extras import require, require_artifact_store
from regtune.service.cli.output import err

MAX_PORT = 65_535
"""A larger number is no port: uvicorn would listen on it modulo 65,536 (``--port 84036`` on
18500) while the log named the number given, and the dashboard or ``serve`` died in ``bind``."""


def _setup_logging() -> None:
    """Lines for people on a terminal, else JSON lines with study and trial ids (see
    REGTUNE_LOG_FORMAT)."""
    from regtune.service.logs import setup
    from regtune.service.misspelt_settings import misspelt_variables
    from regtune.service.settings import get_settings

    settings = get_settings()
    setup(fmt=settings.log_format, level=settings.log_level)
    for line in misspelt_variables(os.environ):
        logging.getLogger("regtune.settings").warning("%s", line)


def _refuse_open_bind(host: str) -> None:
    """Without keys the API is open to whoever reaches it: allow that on loopback only."""
    from regtune.service.settings import get_settings
    from regtune.service.store.repos.keys import bind_refusal

    refusal = bind_refusal(host, get_settings())
    if refusal:
        err.print(Text.assemble(("error: ", "bold red"), refusal))
        raise typer.Exit(2)


def _refuse_taken_port(host: str, port: int) -> None:
    """A port something else listens on is a setting to change, said in one line, not a
    traceback after the migration and an "API on" line for an API that never served."""
    from regtune.service.cli.serve import port_taken

    taken = port_taken(host, port)
    if taken:
        err.print(
            Text.assemble(
                ("error: ", "bold red"),
                f"cannot listen for the API on {host}:{port}: {taken} (is another regtune API "
                "running?); stop it or choose another --port",
            )
        )
        raise typer.Exit(2)


def _warn_of_stored_keys() -> None:
    """Keys stored in the database keep keys on without REGTUNE_ADMIN_KEY: said at start, so that
    a 401 on every request and a 403 on /metrics are not the first sign of it."""
    from regtune.service.settings import get_settings
    from regtune.service.store.backoff import TRANSIENT
    from regtune.service.store.db import close_database
    from regtune.service.store.repos.keys import stored_keys_warning

    try:
        warning = stored_keys_warning(get_settings())
    except TRANSIENT:  # away again since the migration: the API waits for it as it serves
        return
    finally:  # the supervisor serves no request: it keeps no connection for its lifetime
        close_database()
    if warning is not None:
        logging.getLogger("regtune.api").warning("%s", warning)


def _wait_and_migrate() -> None:
    """Migrate the database, waiting for it as long as it is away; SIGTERM or Ctrl-C ends the
    wait at once (``Stopped``), as it ends the process once it serves."""
    from regtune.service.database_url import require_sqlite_folder
    from regtune.service.lifetime import stop_on_signals
    from regtune.service.settings import get_settings
    from regtune.service.store.backoff import retry_forever
    from regtune.service.store.migrate import upgrade

    url = get_settings().database_url
    require_sqlite_folder(url)  # a folder that does not exist is no outage to wait out
    with stop_on_signals(awaited="the database answered") as stop:
        retry_forever(lambda: upgrade(url), what="migrate the database", stop=stop)


def migrate() -> None:
    """Create or upgrade the database schema (regtune's and Optuna's tables)."""
    require("server", "migrate")
    from regtune.service.database_url import require_sqlite_folder
    from regtune.service.settings import get_settings
    from regtune.service.store.migrate import upgrade

    _setup_logging()
    require_sqlite_folder(get_settings().database_url)
    upgrade(get_settings().database_url)


def api(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=MAX_PORT, help="Port to bind.")] = 8000,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="API processes.", show_default="one per CPU"),
    ] = None,
) -> None:
    """Run the REST API (migrates the database first, waiting for it if it is away)."""
    require("server", "api")
    require_artifact_store("api")
    import os

    from regtune.service.api.multiprocess import api_processes, serve
    from regtune.service.lifetime import mark_children

    _setup_logging()
    _refuse_open_bind(host)
    _refuse_taken_port(host, port)  # before the wait: no "API on" line for a port in use
    _wait_and_migrate()  # before any API process starts: they find the schema ready
    _warn_of_stored_keys()
    logging.getLogger("regtune.api").info("API on http://%s:%d (docs at /docs)", host, port)
    mark_children()  # each API process dies with this one, even after a kill -9
    processes = workers or os.cpu_count() or 1
    with api_processes(processes):  # /metrics in any of them counts the requests of all
        status = serve(
            "regtune.service.api.app:create_app", host=host, port=port, processes=processes
        )
    raise typer.Exit(status)


def worker(
    max_trials: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Exit after this many claims ran (a fused claim counts each of its trials; "
            "a λ-path claim counts once, however many trials its path writes).",
        ),
    ] = None,
) -> None:
    """Run one worker: claim trial slots and run them until stopped (SIGTERM hands back)."""
    require("worker", "worker")
    require_artifact_store("worker")
    from regtune.service.database_url import require_sqlite_folder
    from regtune.service.settings import get_settings
    from regtune.service.store.db import require_writable_sqlite
    from regtune.worker.limits import limit_from_settings
    from regtune.worker.loop import run_worker

    require_sqlite_folder(get_settings().database_url)  # before any line is logged
    require_writable_sqlite(get_settings().database_url)
    _setup_logging()
    limit_from_settings()  # REGTUNE_WORKER_MEMORY_MB: a trial too large fails, the worker lives
    _wait_and_migrate()
    run_worker(max_trials=max_trials, settle_heap=True)
    # Everything is committed and the worker unregistered: skip the interpreter's teardown, whose
    # final garbage collection of torch's object graph can take many seconds, so that a worker
    # asked to stop is gone at once.
    import os

    logging.shutdown()
    sys.stdout.flush()
    os._exit(0)


def dashboard(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=MAX_PORT, help="Port to bind.")] = 8080,
) -> None:
    """Run optuna-dashboard on regtune's database (loopback only: it has no authentication)."""
    require("server", "dashboard")
    require_artifact_store("dashboard")
    from regtune.service.importance import optuna_importance

    optuna_importance()  # before optuna-dashboard imports it: PED-ANOVA needs no scikit-learn
    from regtune.service.cli.dashboard import every_tenant_warning, serve_dashboard
    from regtune.service.cli.serve import dashboard_bind_refusal
    from regtune.service.settings import get_settings
    from regtune.service.store.optuna_db.storage import make_storage

    _setup_logging()
    if refusal := dashboard_bind_refusal(host, get_settings()):
        err.print(Text.assemble(("error: ", "bold red"), refusal))
        raise typer.Exit(2)
    from regtune.service.store.repos.model_files import artifact_store

    storage = make_storage()
    if warning := every_tenant_warning(get_settings()):
        logging.getLogger("regtune.dashboard").warning("%s", warning)
    serve_dashboard(storage, host=host, port=port, artifact_store=artifact_store())


def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=MAX_PORT, help="API port.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=0, help="Worker processes.")] = 2,
    api_workers: Annotated[
        int | None,
        typer.Option("--api-workers", min=1, help="API processes.", show_default="one per CPU"),
    ] = None,
    dashboard: Annotated[
        bool, typer.Option("--dashboard", help="Also run optuna-dashboard.")
    ] = False,
    dashboard_port: Annotated[
        int, typer.Option(min=1, max=MAX_PORT, help="Dashboard port.")
    ] = 8080,
) -> None:
    """Embedded mode: API + N workers (+ dashboard) on one database; Ctrl-C stops all."""
    require("worker" if workers else "server", "serve")
    require_artifact_store("serve")
    from regtune.service.cli.serve import serve as run

    _setup_logging()
    _refuse_open_bind(host)
    raise typer.Exit(
        run(
            host=host,
            port=port,
            workers=workers,
            api_workers=api_workers,
            dashboard=dashboard,
            dashboard_port=dashboard_port,
        )
    )
