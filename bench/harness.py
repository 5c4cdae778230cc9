"""What every benchmark shares: arguments, a PostgreSQL server, the regtune processes, output.

The PostgreSQL server and the process helpers are the test suite's own (``tests.pg``,
``tests.support``), so a benchmark runs exactly what the tests run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx

from regtune.service.spec.enums import FINAL
from tests.pg import PostgresServer, postgres_server
from tests.support import Proc, free_port, wait_for

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def parse_args(
    description: str,
    argv: Sequence[str] | None = None,
    extra: dict[str, dict[str, Any]] | None = None,
) -> argparse.Namespace:
    """The arguments every benchmark takes, plus ``extra`` (flag → ``add_argument`` keywords);
    also makes SIGTERM run the clean-up (servers stop)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick", action="store_true", help="tiny budget: checks the script runs, not the numbers"
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help="directory for the JSON results (bench/results)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="seeds or random splits per comparison, where the benchmark has them "
        "(default: the benchmark's own)",
    )
    add_postgres_argument(parser)
    for flag, options in (extra or {}).items():
        parser.add_argument(flag, **options)
    return parser.parse_args(argv)


def add_postgres_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--postgres",
        type=Path,
        default=None,
        metavar="DATA_DIR",
        help="use the running PostgreSQL server of this data directory, where the benchmark "
        "needs one, instead of starting a throwaway one",
    )


def machine() -> dict[str, Any]:
    """What the numbers were measured on, including how busy the machine was (the libraries'
    versions from their metadata: importing scikit-learn to ask costs a second)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "optuna": version("optuna"),
        "sklearn": version("scikit-learn"),
        "platform": platform.platform(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; floats keep 4 significant digits."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return "" if value is None else str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def publish(out: Path, name: str, payload: dict[str, Any], markdown: str) -> Path:
    """Print the table and write ``payload`` (plus the machine) to ``out/name.json``."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    payload = {"benchmark": name, "machine": machine(), **payload, "table": markdown}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    sys.stdout.write(markdown + "\n\n")
    sys.stdout.write(f"(written to {path})\n")
    sys.stdout.flush()
    return path


@contextmanager
def postgres(data_dir: Path | None = None) -> Iterator[PostgresServer]:
    """The server already running on ``data_dir`` (``--postgres``), else a throwaway
    PostgreSQL 15 on a loopback port (the test suite's server)."""
    if data_dir is not None:
        yield running_postgres(data_dir)
        return
    with postgres_server() as server:
        yield server


def running_postgres(data_dir: Path) -> PostgresServer:
    """The server whose ``postmaster.pid`` is in ``data_dir`` (line 4: its port, 5: its socket
    directory)."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
        return PostgresServer(data_dir, Path(lines[4]), int(lines[3]))
    except (OSError, IndexError, ValueError) as exc:
        raise ValueError(f"no running PostgreSQL server in {data_dir=}: {exc}") from exc


def fresh_database(kind: str, tmp: Path, server: PostgresServer | None, label: str) -> str:
    """An empty database URL: a SQLite file under ``tmp`` or a new PostgreSQL database."""
    if kind == "sqlite":
        return f"sqlite:///{tmp / f'{label}.db'}"
    assert server is not None, "a PostgreSQL database needs the server"
    return server.create_database(f"b_{label}_{int(time.time() * 1000) % 10**9}")


def use_database(url: str) -> None:
    """Point this process's settings, engines and storage at ``url`` (and forget what it read
    from another database)."""
    from regtune.service.settings import use_settings
    from tests.inprocess import reset_process_state

    os.environ["REGTUNE_DATABASE_URL"] = url
    use_settings(None)
    reset_process_state()


def run_in_process(spec: dict[str, Any], *, timeout: float = 3600) -> tuple[str, float]:
    """Create the study ``spec`` in this process's database (``use_database``), admitted as
    ``POST /v1/studies`` admits it (its validation decided by the default rule), and run it with
    one worker in this process, as ``regtune worker`` runs it, until it ended and the worker saved
    its best model; return the study's id and the CPU seconds the process spent meanwhile."""
    import threading
    from functools import partial

    from regtune.service.api.studies import admit
    from regtune.service.settings import get_settings
    from regtune.service.store.repos.study_creation import create_study
    from regtune.worker.loop import Worker

    row = create_study(admit(spec, tenant="default", settings=get_settings()))
    worker = Worker()
    began = time.process_time()
    thread = threading.Thread(target=worker.run, name=f"worker-{spec['name']}")
    thread.start()
    try:
        wait_for(partial(_settled, str(row.id)), timeout=timeout, interval=0.05, what=spec["name"])
    finally:
        worker.stopping.set()
        thread.join()
    return str(row.id), time.process_time() - began


def _settled(study_id: str) -> bool:
    """The study ended and, if it completed, its model was saved (or will not be)."""
    from sqlalchemy import select

    from regtune.service.store.db import transaction
    from regtune.service.store.optuna_db.attrs import MODEL_FAILURES_ATTR, NO_MODEL_ATTR
    from regtune.service.store.optuna_db.internals.handles import om
    from regtune.service.store.repos.best_model import read_info
    from regtune.service.store.tables import StudyRow

    system = om.StudySystemAttributeModel
    with transaction() as session:
        row = session.get(StudyRow, study_id)
        if row is None or row.status in ("queued", "running"):
            return False
        if row.status != "completed" or row.optuna_study_id is None:
            return True
        marks = select(system.key).where(
            system.study_id == row.optuna_study_id,
            system.key.in_((NO_MODEL_ATTR, MODEL_FAILURES_ATTR)),
        )
        return session.execute(marks).first() is not None or (
            read_info(session, row.optuna_study_id) is not None
        )


@contextmanager
def served(
    command: Callable[[int], list[str]], url: str, log: Path, *, probe: str, timeout: float
) -> Iterator[tuple[str, int]]:
    """``command(port)`` on ``url``'s database until it answers ``probe``: (base URL, pid)."""
    from tests.support import process_env

    port = free_port()
    proc = Proc(command(port), process_env(url), log.with_name(f"{log.name}-{port}.log"))
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            wait_for(
                lambda: client.get(probe).status_code == 200,
                timeout=timeout,
                interval=0.1,
                what=f"{log.name} to answer",
            )
        yield base, proc.pid
    finally:
        proc.stop()


@contextmanager
def dashboard(url: str, tmp: Path) -> Iterator[tuple[str, int]]:
    """``regtune dashboard`` (optuna-dashboard) on ``url``'s database: (base URL, pid)."""
    from tests.support import regtune

    with served(
        lambda port: regtune("dashboard", "--port", str(port)),
        url,
        tmp / "dashboard",
        probe="/api/meta",
        timeout=300,
    ) as found:
        yield found


FRESH = {"Cache-Control": "no-cache"}
"""A study read as it is now, not as the API process read it up to a second ago."""

STOP_SECONDS = 1.0
"""How long a benchmark's process may take to end once asked (``Service.stop``)."""


class Service:
    """The regtune API and worker processes on one database, run as a user would run them."""

    def __init__(self, database_url: str, tmp: Path, **env: str) -> None:
        self.tmp = tmp
        self.env = {**os.environ, "REGTUNE_DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"}
        self.env.update(env)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.procs: list[Proc] = []

    def _spawn(self, name: str, *args: str) -> Proc:
        cmd = [sys.executable, "-m", "regtune.service.cli.app", *args]
        proc = Proc(cmd, self.env, self.tmp / f"{name}-{self.port}-{len(self.procs)}.log")
        self.procs.append(proc)
        return proc

    def start_api(self, *extra: str) -> Service:
        """The API (``extra``: its options); returns once it is ready. Workers start after it:
        started together, their migrations and the API's wait on each other's locks."""
        return self.launch_api(*extra).wait_ready()

    def launch_api(self, *extra: str) -> Service:
        """The API started, not waited for (``wait_ready``): services on databases of their own
        start side by side."""
        self._spawn("api", "api", "--port", str(self.port), *extra)
        return self

    def wait_ready(self) -> Service:
        """Once the API (or ``serve``) answers ``/readyz``."""
        return self._ready("the API")

    def _ready(self, what: str) -> Service:
        with httpx.Client(base_url=self.url, timeout=5) as client:  # one TLS context, not one a try
            wait_for(
                lambda: client.get("/readyz").status_code == 200,
                timeout=120,
                interval=0.1,
                what=f"{what} to be ready",
            )
        return self

    def start_serve(self, *, workers: int) -> Service:
        """``regtune serve``: one API process and ``workers`` workers, as a user runs it."""
        port, n = str(self.port), str(workers)
        self._spawn("serve", "serve", "--port", port, "--workers", n, "--api-workers", "1")
        return self._ready("regtune serve")

    def start_workers(self, n: int) -> Service:
        for _ in range(n):
            self._spawn("worker", "worker")
        return self

    def submit(self, definition: dict[str, Any]) -> str:
        response = httpx.post(f"{self.url}/v1/studies", json=definition, timeout=60)
        response.raise_for_status()
        return str(response.json()["id"])

    def wait_done(self, study_id: str, *, timeout: float) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            study = httpx.get(f"{self.url}/v1/studies/{study_id}", headers=FRESH, timeout=30).json()
            if study["status"] in FINAL:
                return dict(study)
            return None

        return wait_for(finished, timeout=timeout, interval=0.1, what=f"study {study_id}")

    def logs(self) -> str:
        return "\n".join(p.log() for p in self.procs)

    def stop(self) -> None:
        """The workers asked to stop all at once, then the first process (the API, or
        ``serve``); each killed if it has not ended within ``STOP_SECONDS``. A benchmark's
        database is scratch: a worker that is saving the last study's best model (importing
        torch for it takes seconds and cannot be interrupted) is not waited for. The
        hand-back on SIGTERM is the suite's to check (``tests/e2e/test_pool.py``)."""
        workers = self.procs[1:]
        for proc in workers:
            if proc.alive():
                proc.signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for proc in workers:
            proc.stop(timeout=max(0.0, deadline - time.monotonic()))
        for proc in self.procs[:1]:
            proc.stop(timeout=STOP_SECONDS)

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"regtune-bench-{prefix}-") as tmp:
        yield Path(tmp)
