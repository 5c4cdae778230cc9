"""The ``regtune`` command: run the parts (api, worker, serve, migrate) and talk to the API."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from service.client import ApiError, Client

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Hyperparameter tuning for regularized models."
)
console = Console()
err = Console(stderr=True)

UrlOpt = Annotated[str | None, typer.Option("--url", envvar="REGTUNE_URL", help="API base URL.")]
KeyOpt = Annotated[str | None, typer.Option("--key", envvar="REGTUNE_KEY", help="API key.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


def _client(url: str | None, key: str | None) -> Client:
    return Client(url, key=key)


def _fail(exc: Exception) -> None:
    err.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(1)


# ---------------------------------------------------------------------- running the parts


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (regtune's and Optuna's tables)."""
    from service.migrate import upgrade
    from service.settings import get_settings

    _setup_logging()
    upgrade(get_settings().database_url)


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
) -> None:
    """Run the REST API (migrates the database on start)."""
    import uvicorn

    _setup_logging()
    uvicorn.run("service.api.app:create_app", factory=True, host=host, port=port, log_level="info")


@app.command()
def worker(
    max_trials: Annotated[int | None, typer.Option(help="Exit after this many trials.")] = None,
) -> None:
    """Run one worker: claim trial slots and run them until stopped (SIGTERM hands back)."""
    from service.backoff import retry_forever
    from service.migrate import upgrade
    from service.settings import get_settings
    from worker.loop import run_worker

    _setup_logging()
    retry_forever(lambda: upgrade(get_settings().database_url), what="migrate the database")
    run_worker(max_trials=max_trials)


@app.command()
def dashboard(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8080,
) -> None:
    """Run optuna-dashboard on regtune's database."""
    from optuna_dashboard import run_server

    from service.storage import make_storage

    _setup_logging()
    run_server(make_storage(), host=host, port=port)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="API port.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", help="Worker processes.")] = 2,
    dashboard: Annotated[
        bool, typer.Option("--dashboard", help="Also run optuna-dashboard.")
    ] = False,
    dashboard_port: Annotated[int, typer.Option(help="Dashboard port.")] = 8080,
) -> None:
    """Embedded mode: API + N workers (+ dashboard) on one database; Ctrl-C stops all."""
    from service.serve import serve as run

    _setup_logging()
    raise typer.Exit(
        run(
            host=host,
            port=port,
            workers=workers,
            dashboard=dashboard,
            dashboard_port=dashboard_port,
        )
    )


# ---------------------------------------------------------------------- talking to the API


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@app.command()
def submit(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="Definition (YAML or JSON).")
    ],
    url: UrlOpt = None,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit a study definition."""
    try:
        with _client(url, key) as client:
            study = client.submit(file.read_text())
    except (ApiError, OSError) as exc:
        _fail(exc)
    if as_json:
        _print_json(study)
    else:
        console.print(
            f"created study [bold]{study['id']}[/bold] ({study['name']}), status {study['status']}"
        )


@app.command("ls")
def list_studies(
    status: Annotated[str | None, typer.Option(help="Filter by status.")] = None,
    url: UrlOpt = None,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List studies."""
    try:
        with _client(url, key) as client:
            page = client.studies(status=status)
    except ApiError as exc:
        _fail(exc)
    if as_json:
        _print_json(page)
        return
    table = Table("id", "name", "status", "done", "running", "created")
    for s in page["items"]:
        table.add_row(
            s["id"],
            s["name"],
            s["status"],
            f"{s['done']}/{s['n_trials']}",
            str(s["running"]),
            s["created_at"],
        )
    console.print(table)


@app.command()
def show(study_id: str, url: UrlOpt = None, key: KeyOpt = None, as_json: JsonOpt = False) -> None:
    """Show a study: status, counts, best trial."""
    try:
        with _client(url, key) as client:
            study = client.study(study_id)
    except ApiError as exc:
        _fail(exc)
    if as_json:
        _print_json(study)
        return
    p = study["progress"]
    console.print(
        f"[bold]{study['name']}[/bold] {study['id']}  status {study['status']}  "
        f"{p['done']}/{p['n_trials']} done"
    )
    console.print("counts: " + ", ".join(f"{k} {v}" for k, v in study["counts"].items() if v))
    best = study.get("best_trial")
    if best:
        console.print(
            f"best trial #{best['number']}: value {best['value']:.6g}, "
            f"non-zero {best['n_nonzero']}, params {best['params']}"
        )


if __name__ == "__main__":
    app()
