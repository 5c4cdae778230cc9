"""The ``regtune`` command: run the parts (api, worker, serve, migrate) and talk to the API."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from service.client.http import ApiError, Client, ClientError

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Hyperparameter tuning for regularized models."
)
console = Console()
err = Console(stderr=True)

UrlOpt = Annotated[str | None, typer.Option("--url", envvar="REGTUNE_URL", help="API base URL.")]
KeyOpt = Annotated[str | None, typer.Option("--key", envvar="REGTUNE_KEY", help="API key.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _setup_logging() -> None:
    """JSON lines with study and trial ids (REGTUNE_LOG_FORMAT=text for people)."""
    from service.logs import setup
    from service.settings import get_settings

    settings = get_settings()
    setup(fmt=settings.log_format, level=settings.log_level)


def _client(url: str | None, key: str | None) -> Client:
    return Client(url, key=key)


def _fail(exc: Exception) -> NoReturn:
    """Print the API's message (never a traceback) and exit 1."""
    err.print(Text.assemble(("error: ", "bold red"), str(exc)))
    raise typer.Exit(1)


# ---------------------------------------------------------------------- running the parts


def _refuse_open_bind(host: str) -> None:
    """Without keys the API is open to whoever reaches it: allow that on loopback only."""
    from service.settings import get_settings
    from service.store.keys import bind_refusal

    refusal = bind_refusal(host, get_settings())
    if refusal:
        err.print(Text.assemble(("error: ", "bold red"), refusal))
        raise typer.Exit(2)


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (regtune's and Optuna's tables)."""
    from service.settings import get_settings
    from service.store.migrate import upgrade

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
    _refuse_open_bind(host)
    uvicorn.run(
        "service.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        log_level="info",
        log_config=None,  # our JSON handler (service.logs) formats uvicorn's lines too
        access_log=False,  # one line per request comes from service.api.observability
    )


@app.command()
def worker(
    max_trials: Annotated[int | None, typer.Option(help="Exit after this many trials.")] = None,
) -> None:
    """Run one worker: claim trial slots and run them until stopped (SIGTERM hands back)."""
    from service.settings import get_settings
    from service.store.backoff import retry_forever
    from service.store.migrate import upgrade
    from worker.loop import run_worker

    _setup_logging()
    retry_forever(lambda: upgrade(get_settings().database_url), what="migrate the database")
    run_worker(max_trials=max_trials)
    # Everything is committed and the worker unregistered: skip the interpreter's teardown, whose
    # final garbage collection of torch's object graph can take many seconds, so that a worker
    # asked to stop is gone at once.
    import logging
    import os

    logging.shutdown()
    sys.stdout.flush()
    os._exit(0)


@app.command()
def dashboard(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8080,
) -> None:
    """Run optuna-dashboard on regtune's database."""
    from optuna_dashboard import run_server

    from service.store.optuna_storage import make_storage

    _setup_logging()
    from service.store.best_model import artifact_store

    run_server(make_storage(), host=host, port=port, artifact_store=artifact_store())


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
    from service.cli.serve import serve as run

    _setup_logging()
    _refuse_open_bind(host)
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


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={_fmt(v)}" for k, v in params.items())


@app.command()
def submit(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="Definition (YAML or JSON).")
    ],
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Show live progress until the study ends.")
    ] = False,
    poll: Annotated[float, typer.Option(help="Seconds between progress polls.")] = 1.0,
    url: UrlOpt = None,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit a study definition; with --watch, follow it (exit 1 if it fails, 2 if cancelled)."""
    from service.client.watch import EXIT_CODES
    from service.client.watch import watch as follow

    try:
        with _client(url, key) as client:
            study = client.submit(file.read_text())
            if not as_json:
                console.print(
                    f"created study [bold]{study['id']}[/bold] ({study['name']}), "
                    f"status {study['status']}"
                )
            if watch:
                study = follow(client, study, console=err if as_json else console, poll=poll)
    except (ClientError, OSError) as exc:
        _fail(exc)
    if as_json:
        _print_json(study)
    elif watch:
        _print_summary(study)
    if watch:
        raise typer.Exit(EXIT_CODES.get(study["status"], 1))


@app.command("ls")
def list_studies(
    status: Annotated[str | None, typer.Option(help="Filter by status.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (newest first).")] = 50,
    url: UrlOpt = None,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List studies, newest first."""
    try:
        with _client(url, key) as client:
            page = client.studies(status=status, limit=limit)
    except ClientError as exc:
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
            str(s["created_at"]),
        )
    console.print(table)
    if page["total"] > len(page["items"]):
        console.print(f"{len(page['items'])} of {page['total']} studies")


def _print_summary(study: Any) -> None:
    p = study["progress"]
    console.print(
        f"[bold]{study['name']}[/bold] {study['id']}  status {study['status']}  "
        f"{p['done']}/{p['n_trials']} done"
    )
    console.print("counts: " + (", ".join(f"{k} {v}" for k, v in study["counts"].items() if v)))
    if study.get("error"):
        console.print(Text.assemble(("error: ", "red"), study["error"]))
    best = study.get("best_trial")
    if best:
        console.print(
            Text(
                f"best trial #{best['number']}: value {_fmt(best['values'] or best['value'])}, "
                f"non-zero {_fmt(best['n_nonzero'])}, {_params(best['params'])}"
            )
        )
        if best.get("test_metrics"):
            console.print(Text(f"  test: {_params(best['test_metrics'])}"))
    front = study.get("pareto_front")
    if front:
        names = study["definition"].get("objectives") or []
        table = Table("trial", *names, "n_inputs", "params", title="Pareto front")
        for t in front:
            table.add_row(
                str(t["number"]),
                *(_fmt(v) for v in t["values"] or []),
                _fmt(t["user_attrs"].get("n_inputs")),
                _params(t["params"]),
            )
        console.print(table)
    model = study.get("best_model")
    if model:
        console.print(
            f"best model: {model['filename']} ({model['bytes']} bytes, trial {model['trial']})"
            f" — regtune best {study['id']} --download {model['filename']}"
        )


@app.command()
def show(study_id: str, url: UrlOpt = None, key: KeyOpt = None, as_json: JsonOpt = False) -> None:
    """Show a study: status, counts, best trial, Pareto front, saved model."""
    try:
        with _client(url, key) as client:
            study = client.study(study_id)
    except ClientError as exc:
        _fail(exc)
    if as_json:
        _print_json(study)
        return
    _print_summary(study)


@app.command()
def trials(
    study_id: str,
    state: Annotated[
        str | None, typer.Option(help="COMPLETE, PRUNED, FAIL, RUNNING or WAITING.")
    ] = None,
    offset: Annotated[int, typer.Option(help="Skip this many.")] = 0,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
    url: UrlOpt = None,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List a study's trials: state, value(s), non-zero weights, epochs, params."""
    try:
        with _client(url, key) as client:
            page = client.trials(study_id, state=state, offset=offset, limit=limit)
    except ClientError as exc:
        _fail(exc)
    if as_json:
        _print_json(page)
        return
    table = Table("#", "state", "value", "non-zero", "epochs", "params")
    for t in page["items"]:
        attrs = t["user_attrs"]
        table.add_row(
            str(t["number"]),
            t["state"],
            _fmt(t["values"] if t["values"] and len(t["values"]) > 1 else t["value"]),
            _fmt(attrs.get("n_nonzero")),
            _fmt(attrs.get("epochs_run")),
            Text(_params(t["params"])),
        )
    console.print(table)
    console.print(f"{len(page['items'])} of {page['total']} trials")


@app.command()
def cancel(study_id: str, url: UrlOpt = None, key: KeyOpt = None, as_json: JsonOpt = False) -> None:
    """Cancel a study: no new trials; running ones stop at their next epoch."""
    try:
        with _client(url, key) as client:
            study = client.cancel(study_id)
    except ClientError as exc:
        _fail(exc)
    if as_json:
        _print_json(study)
    else:
        console.print(f"study {study['id']} {study['status']}")


@app.command("rm")
def remove(study_id: str, url: UrlOpt = None, key: KeyOpt = None, as_json: JsonOpt = False) -> None:
    """Delete a study and its Optuna study."""
    try:
        with _client(url, key) as client:
            client.delete(study_id)
    except ClientError as exc:
        _fail(exc)
    if as_json:
        _print_json({"id": study_id, "deleted": True})
    else:
        console.print(f"study {study_id} deleted")


@app.command()
def best(
    study_id: str,
    download: Annotated[
        Path | None,
        typer.Option("--download", "-d", dir_okay=False, help="Save the best model here."),
    ] = None,
    url: UrlOpt = None,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The best trial (params, value, test metrics); --download saves its model (safetensors)."""
    try:
        with _client(url, key) as client:
            study = client.study(study_id)
            saved = client.download_best_model(study_id, download) if download else None
    except (ClientError, OSError) as exc:
        _fail(exc)
    best_trial = study.get("best_trial")
    if as_json:
        _print_json(
            {
                "study_id": study["id"],
                "best_trial": best_trial,
                "best_model": study.get("best_model"),
                "downloaded": str(saved) if saved else None,
            }
        )
        return
    if not best_trial:
        console.print(f"study {study_id} has no completed trial yet")
    else:
        console.print(
            Text(
                f"trial #{best_trial['number']}  value {_fmt(best_trial['value'])}  "
                f"non-zero {_fmt(best_trial['n_nonzero'])}\n"
                f"params: {_params(best_trial['params'])}\n"
                f"test:   {_params(best_trial['test_metrics'] or {})}"
            )
        )
    if saved:
        console.print(f"saved {saved}")


@app.command()
def predict(
    data: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="CSV with the feature columns.")
    ],
    model: Annotated[
        Path, typer.Option("--model", "-m", exists=True, dir_okay=False, help="Saved model.")
    ],
    target: Annotated[
        str | None,
        typer.Option(help="Target column to score against (default: 'target' if present)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write predictions here (CSV).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Predict a CSV with a downloaded best model; score it if the target column is there."""
    try:
        import pandas as pd

        from worker.modelfile import load

        saved = load(model)
        frame = pd.read_csv(data, float_precision="round_trip")
        column = target or ("target" if "target" in frame.columns else None)
        if column is not None and column not in frame.columns:
            raise ValueError(f"no column {column!r} in {data}")
        features = frame.drop(columns=[column]) if column else frame
        X = saved.features(features)
        predictions = pd.DataFrame(saved.predict(X))
        metrics = saved.score(X, frame[column].to_numpy()) if column else None
    except (OSError, ValueError, KeyError) as exc:
        _fail(exc)
    if out is not None:
        predictions.to_csv(out, index=False)
    if as_json:
        result: dict[str, Any] = {"rows": len(predictions), "metrics": metrics}
        if out is None:
            result["predictions"] = predictions.to_dict(orient="list")
        _print_json(result)
        return
    if out is None:
        sys.stdout.write(predictions.to_csv(index=False))
    if metrics is not None:
        err.print(Text(f"{len(predictions)} rows  " + _params(metrics)))


@app.command("workers")
def list_workers(url: UrlOpt = None, key: KeyOpt = None, as_json: JsonOpt = False) -> None:
    """List live workers: host, pid, the trial each is running, last heartbeat."""
    import httpx

    try:
        with _client(url, key) as client:
            live = client.workers()
    except (ApiError, httpx.HTTPError) as exc:
        _fail(exc)
    if as_json:
        _print_json(live)
        return
    table = Table("id", "host", "pid", "study", "trial", "last heartbeat (UTC)")
    for w in live:
        trial = w["trial_number"]
        table.add_row(
            w["id"],
            w["host"],
            str(w["pid"]),
            w["study_id"] or "-",
            "-" if trial is None else str(trial),
            w["last_heartbeat"],
        )
    console.print(table)
    console.print(f"{len(live)} live worker{'s' if len(live) != 1 else ''}")


# ---------------------------------------------------------------------- datasets and keys

datasets_app = typer.Typer(no_args_is_help=True, help="Upload and list your own datasets.")
keys_app = typer.Typer(no_args_is_help=True, help="Create and revoke API keys (admin key only).")
app.add_typer(datasets_app, name="datasets")
app.add_typer(keys_app, name="keys")


@datasets_app.command("upload")
def upload_dataset(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or Parquet.")],
    target: Annotated[str, typer.Option("--target", help="The column to predict.")],
    task: Annotated[str, typer.Option(help="auto, regression, binary or multiclass.")] = "auto",
    url: UrlOpt = None,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Upload a dataset; use its id in a definition as dataset: {id: ID}."""
    try:
        with _client(url, key) as client:
            dataset = client.upload_dataset(file, target=target, task=task)
    except (ClientError, OSError) as exc:
        _fail(exc)
    if as_json:
        _print_json(dataset)
        return
    console.print(
        Text.assemble(
            "dataset ",
            (dataset["id"], "bold"),
            f" ({dataset['name']}): {dataset['n_rows']} rows, {dataset['n_features']} features, "
            f"task {dataset['task']}",
        )
    )
    missing = dataset["missing"]["missing_by_column"]
    if missing:
        shown = ", ".join(f"{k} {v}" for k, v in missing.items())
        console.print(f"missing values (filled from each training split): {shown}")


@datasets_app.command("ls")
def list_datasets(url: UrlOpt = None, key: KeyOpt = None, as_json: JsonOpt = False) -> None:
    """List your datasets."""
    try:
        with _client(url, key) as client:
            page = client.datasets(limit=500)
    except ClientError as exc:
        _fail(exc)
    if as_json:
        _print_json(page)
        return
    table = Table("id", "name", "target", "task", "rows", "features", "uploaded")
    for d in page["items"]:
        table.add_row(
            d["id"],
            d["name"],
            d["target"],
            d["task"],
            str(d["n_rows"]),
            str(d["n_features"]),
            d["created_at"],
        )
    console.print(table)


@datasets_app.command("rm")
def remove_dataset(dataset_id: str, url: UrlOpt = None, key: KeyOpt = None) -> None:
    """Delete a dataset (refused while a queued or running study uses it)."""
    try:
        with _client(url, key) as client:
            client.delete_dataset(dataset_id)
    except ClientError as exc:
        _fail(exc)
    console.print(f"deleted dataset {dataset_id}")


@keys_app.command("create")
def create_key(
    tenant: Annotated[str, typer.Argument(help="The tenant the key acts for.")],
    url: UrlOpt = None,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API key; its secret is printed once and cannot be shown again."""
    try:
        with _client(url, key) as client:
            created = client.create_key(tenant)
    except ClientError as exc:
        _fail(exc)
    if as_json:
        _print_json(created)
        return
    console.print(f"key {created['id']} for tenant {created['tenant']}; secret (shown once):")
    sys.stdout.write(created["key"] + "\n")


@keys_app.command("revoke")
def revoke_key(key_id: str, url: UrlOpt = None, key: KeyOpt = None) -> None:
    """Revoke an API key; its next request is refused."""
    try:
        with _client(url, key) as client:
            client.revoke_key(key_id)
    except ClientError as exc:
        _fail(exc)
    console.print(f"revoked key {key_id}")


if __name__ == "__main__":
    app()
