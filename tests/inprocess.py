"""The API in the test's own process: the app factory's app, explicit settings, a SQLite file,
FastAPI's ``TestClient`` (no uvicorn, no socket, no other process)."""

from __future__ import annotations

import contextvars
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi.testclient import TestClient

from regtune.service.api.app import create_app
from regtune.service.api.schemas.studies import STUDY_WAIT_MAX
from regtune.service.settings import Settings, use_settings

if TYPE_CHECKING:
    from typer.testing import Result

    from regtune.worker.loop import Worker


def reset_process_state() -> None:
    """Close the engines and storages of the databases used so far (each follows the settings'
    database by itself: ``PerDatabase``) and forget the key answers and study reads kept from
    another database (a copy of a database holds the same study ids)."""
    from regtune.service.api import observability, render
    from regtune.service.store.db import close_database
    from regtune.service.store.repos import keys, studies
    from regtune.service.store.trials import index, views

    close_database()
    keys._KEYS.clear()
    keys._ANY_KEY.clear()
    for remembered in (
        studies._ROWS,
        studies._HELD,
        studies._MODELS,
        studies._ENDED_MODEL_READS,
        studies._DEFINITIONS,
        index._INDEXES,
    ):
        remembered.clear()
    for rendered in (views._BEST_VIEWS, render._TRIALS, render._STUDIES, render._LISTS):
        rendered.clear()
    observability._registry = None  # its trial tallies are another database's


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite file, with what its write-ahead log still holds."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def migrated_template(directory: Path) -> Path:
    """An empty database at the newest schema, copied for each app (migrating costs ~0.5 s)."""
    from regtune.service.store.migrate import upgrade

    path = directory / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


class Apps:
    """Apps on fresh copies of a migrated database; all shut down (lifespan exit) at the end."""

    def __init__(self, tmp: Path, template: Path) -> None:
        self.tmp = tmp
        self.template = template
        self.clients: list[TestClient] = []

    def __call__(self, *, database: Path | None = None, **settings: Any) -> TestClient:
        """A client of a new app; ``database``: start from a copy of that SQLite file."""
        path = self.tmp / f"api-{len(self.clients)}.db"
        copy_database(database or self.template, path)
        values: dict[str, Any] = {
            "database_url": f"sqlite:///{path}",
            "artifact_dir": self.tmp / "artifacts",
            "sweep_interval": 0.2,
            # the service's default: a worker thread of this process whose heartbeat a loaded
            # machine delays by seconds is not failed as stale beside the test
            "grace_period": 20,
            "heartbeat_interval": 1,
            # an app that serves a test's few requests: each route is prepared on first use
            # (the tests of the warm-up turn it on)
            "warm_up": False,
        }
        values.update(settings)
        if self.clients:
            self.clients[-1].__exit__(None, None, None)  # one app at a time owns the settings
        reset_process_state()
        client = TestClient(create_app(Settings(**values)))
        client.__enter__()  # runs the lifespan: migrations and the sweeper
        self.clients.append(client)
        return client

    def close(self) -> None:
        if self.clients:
            self.clients[-1].__exit__(None, None, None)
        use_settings(None)
        reset_process_state()

    @staticmethod
    def database_path(client: TestClient) -> Path:
        from regtune.service.settings import get_settings

        return Path(get_settings().database_url.removeprefix("sqlite:///"))


def trials_running(api: TestClient, study_id: str) -> int:
    """How many of the study's trials are RUNNING, as its trial list says."""
    trials = api.get(f"/v1/studies/{study_id}/trials").json()["items"]
    return sum(t["state"] == "RUNNING" for t in trials)


@dataclass(frozen=True)
class WorkerThread:
    """A worker of this process running in a thread of its own."""

    worker: Worker
    thread: threading.Thread

    def ended(self, timeout: float = 120) -> None:
        """Wait up to ``timeout`` s for the worker to end by itself (its ``max_trials`` run)."""
        self.thread.join(timeout=timeout)


@contextmanager
def worker_thread(**run: Any) -> Iterator[WorkerThread]:
    """A worker of this process in a thread (``run``: ``Worker.run``'s arguments), in a context
    of its own; told to stop and joined when the block ends, and it must have ended."""
    from regtune.worker.loop import Worker

    worker = Worker()
    thread = threading.Thread(target=contextvars.copy_context().run, args=(worker.run,), kwargs=run)
    thread.start()
    try:
        yield WorkerThread(worker, thread)
    finally:
        worker.stopping.set()
        thread.join(timeout=120)
    assert not thread.is_alive(), "the worker did not end"


def run_to_the_end(api: TestClient, study_id: str, *, timeout: float = 600) -> dict[str, Any]:
    """A worker in this process (in a context of its own) until the study has ended and its
    best model is saved."""
    with worker_thread():
        return wait_for_the_end(api, study_id, timeout=timeout)


def wait_for_the_end(api: TestClient, study_id: str, *, timeout: float = 600) -> dict[str, Any]:
    """The study once it has ended and its best model is saved (a worker runs it meanwhile)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        # the API holds the answer until the study has ended with its model saved, as
        # `regtune watch` asks, looking again as soon as the worker commits
        wait = {"wait": f"{min(max(left, 0.01), STUDY_WAIT_MAX):.2f}"}
        study: dict[str, Any] = api.get(f"/v1/studies/{study_id}", params=wait).json()
        ended = study["status"] not in ("queued", "running")
        if ended and (study["best_model"] is not None or study["status"] != "completed"):
            return study
        time.sleep(0.05)  # ended without a model (yet): the wait answers at once
    raise AssertionError(f"study {study_id} did not end in {timeout} s: {study}")


def cli_output(api: TestClient, monkeypatch: Any, *args: str) -> str:
    """What ``regtune ARGS --url …`` prints, its requests answered by the in-process API
    (whitespace collapsed); fails if the command does."""
    result = cli_result(api, monkeypatch, *args)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def cli_result(api: TestClient, monkeypatch: Any, *args: str) -> Result:
    """How ``regtune ARGS --url …`` ended (``exit_code``; ``stdout``; ``output``, both streams),
    its requests answered by the in-process API."""
    import httpx
    from typer.testing import CliRunner

    from regtune.service.cli import output
    from regtune.service.cli.app import app
    from regtune.service.client.http import Client

    def forward(request: httpx.Request) -> httpx.Response:
        # the body's type (a multipart boundary) and the caller's key
        kept = {k: v for k, v in request.headers.items() if k in ("content-type", "authorization")}
        path = request.url.raw_path.decode()
        answer = api.request(request.method, path, content=request.content, headers=kept)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    def client(url: str | None, *, key: str | None = None, **_: Any) -> Client:
        return Client(url, key=key, transport=httpx.MockTransport(forward))

    monkeypatch.setattr(output, "Client", client)
    return CliRunner().invoke(app, [*args, "--url", "http://regtune.test"])
