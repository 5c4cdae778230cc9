"""Real processes for tests: the API under uvicorn, worker processes, polling with deadlines."""

from __future__ import annotations

import copy
import logging
import os
import pty
import re
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, TypeVar

import httpx

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from tests.pg import PostgresServer

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]
OWNER = "REGTUNE_TEST_SESSION"
"""Set in the environment of every process a test starts (and so of their children): the id of
the test session, by which the session-end check finds any process left behind."""


def owned(env: dict[str, str] | None) -> dict[str, str]:
    """``env`` (default: this process's) carrying the session's mark."""
    return {**(os.environ if env is None else env), OWNER: os.environ.get(OWNER, "")}


RESOURCE_TRACKER = "from multiprocessing.resource_tracker import main"
"""The command of multiprocessing's resource tracker, which a ``spawn`` context's lock or queue
starts as a child of the process that made it; it ends when that process does."""


def leftovers(session: str) -> list[tuple[int, str]]:
    """Processes other than this one and its own resource tracker whose environment carries
    ``session``: (pid, command)."""
    mark = f"{OWNER}={session}".encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if mark in (entry / "environ").read_bytes():
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                if RESOURCE_TRACKER in command and parent_of(int(entry.name)) == os.getpid():
                    continue  # it ends with this process: not left behind
                found.append((int(entry.name), command.strip()))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def parent_of(pid: int) -> int:
    """The parent process id of ``pid`` (``/proc/<pid>/stat``; after the command, which may hold
    spaces and parentheses)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    condition: Callable[[], T | bool | None],
    *,
    timeout: float = 60,
    interval: float = 0.2,
    what: str = "condition",
) -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value  # type: ignore[return-value]
        except Exception as exc:  # the thing polled may not be up yet
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last error: {last_error})")


def wait_until_judging(engine: Engine, grace: timedelta) -> None:
    """Wait until this process has been reaching ``engine``'s database for ``grace``: only then
    does its sweep judge a worker's silence (``outages.steady``), as a sweeper started that long
    ago does. At once on a SQLite file."""
    from regtune.service.store import outages

    with engine.connect():  # reached at least once
        pass
    wait_for(
        lambda: outages.steady(engine, grace.total_seconds()),
        timeout=grace.total_seconds() + 60,
        interval=0.1,
        what=f"this process reaching the database for {grace.total_seconds():g} s",
    )


def could_not_end(worker: Proc) -> bool:
    """The worker met the database's absence as its trial ended (it is handing it back, or
    could not fail it), or has exited."""
    said = worker.log()
    return not worker.alive() or any(
        words in said for words in ("mid-trial", "could not fail", "left to the sweep")
    )


def stop_in_an_outage(
    stack: Stack, worker: Proc, database: PostgresServer, study_id: str, **finisher_env: str
) -> dict[str, Any]:
    """Stop ``database``, SIGTERM ``worker``, and start the database again once the worker met
    its absence as its trial ended (``could_not_end``); once the worker exited (0), run the study
    to its end with a new worker (``finisher_env``: settings of its own, such as a shorter sleep
    trial): the study as it ended."""
    database.stop("fast")
    try:
        worker.signal(signal.SIGTERM)
        wait_for(
            lambda: could_not_end(worker), timeout=120, what="the worker failing to end its trial"
        )
    finally:
        database.start()
    assert worker.popen.wait(timeout=120) == 0
    stack.start_workers(1, **finisher_env)
    return stack.wait_status(study_id, ("completed", "failed", "cancelled"), timeout=600)


def assert_outage_said_once(said: list[tuple[int, str]], what: str, *, tries: int) -> None:
    """``said`` (level, message) of a wait through a database outage are the two lines of
    ``OutageLog``: a warning at the first failure, and one once ``what`` was done again after at
    least ``tries`` tries (a line per attempt was the defect)."""
    assert [level for level, _ in said] == [logging.WARNING, logging.INFO], said
    assert said[0][1].startswith(f"could not {what} (OperationalError: "), said
    assert said[0][1].endswith("); retrying until the database answers"), said
    done = re.fullmatch(
        rf"{re.escape(what)}: done after (\d+) tries \(the database answers again\)", said[1][1]
    )
    assert done and int(done[1]) >= tries, said


def process_env(database_url: str, **extra: str) -> dict[str, str]:
    env = os.environ.copy()
    env.update(
        {
            "REGTUNE_DATABASE_URL": database_url,
            "REGTUNE_HEARTBEAT_INTERVAL": "1",
            "REGTUNE_GRACE_PERIOD": "4",
            "REGTUNE_SWEEP_INTERVAL": "1",
            "REGTUNE_POLL_MIN": "0.05",
            "REGTUNE_POLL_MAX": "0.5",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return owned(env)


class Proc:
    """A child process whose output goes to a log file the test can read."""

    def __init__(
        self, args: list[str], env: dict[str, str], log_path: Path, *, session: bool = False
    ) -> None:
        """``session``: in a session (and process group) of its own, which a test can signal
        as a terminal signals its foreground group on Ctrl-C (``os.killpg``)."""
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - open for the process's lifetime
        self.popen = subprocess.Popen(
            args,
            env=owned(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=session,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        self.popen.send_signal(sig)

    def stop(self, timeout: float = 20) -> int | None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()
        return self.popen.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def in_pty(
    args: list[str], env: dict[str, str], timeout: float = 900, stdout: IO[bytes] | None = None
) -> tuple[int, str]:
    """Run a command on a pseudo-terminal (as a person would) and return (exit code, output).

    With ``stdout``, standard output goes there instead (``regtune ... > file`` in a terminal).
    """
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        args,
        stdin=follower,
        stdout=follower if stdout is None else stdout,
        stderr=follower,
        env=owned({**env, "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "40"}),
        cwd=ROOT,
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the follower side closed: the process exited
                break
            if not chunk:
                break
            chunks.append(chunk)
        elif proc.poll() is not None:
            break
    code = proc.wait(timeout=30)
    os.close(leader)
    return code, b"".join(chunks).decode(errors="replace")


def regtune(*args: str) -> list[str]:
    return [sys.executable, "-m", "regtune.service.cli.app", *args]


TEARDOWN_SECONDS = 1.0
"""How long a test's stack may take to end once its test is over (``Stack.stop``); an idle
worker ends in a tenth of that."""


class Stack:
    """An API process and any number of worker processes on one database."""

    def __init__(self, database_url: str, tmp: Path, **env: str) -> None:
        self.database_url = database_url
        self.tmp = tmp
        self.env = process_env(database_url, **env)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api: Proc | None = None
        self.workers: list[Proc] = []

    def start_api(self, processes: int = 1) -> Stack:
        """``regtune api`` with one process, unless the test is about several."""
        self.api = Proc(
            regtune("api", "--port", str(self.port), "--workers", str(processes)),
            self.env,
            self.tmp / f"api-{self.port}.log",
        )
        wait_for(
            lambda: httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200,
            timeout=90,
            what="API ready",
        )
        return self

    def start_workers(self, n: int, **env: str) -> list[Proc]:
        """``n`` workers with the stack's settings, ``env`` overriding some of them."""
        new = [
            Proc(
                regtune("worker"),
                {**self.env, **env},
                self.tmp / f"worker-{len(self.workers) + i}.log",
            )
            for i in range(n)
        ]
        self.workers += new
        return new

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def submit(self, definition: dict[str, Any]) -> dict[str, Any]:
        response = httpx.post(f"{self.url}/v1/studies", json=definition, timeout=30)
        assert response.status_code == 201, response.text
        return response.json()

    def study(self, study_id: str) -> dict[str, Any]:
        return httpx.get(f"{self.url}/v1/studies/{study_id}", timeout=30).json()

    def wait_status(
        self, study_id: str, statuses: tuple[str, ...] = ("completed",), timeout: float = 300
    ) -> dict[str, Any]:
        return wait_for(
            lambda: (s := self.study(study_id))["status"] in statuses and s,
            timeout=timeout,
            interval=0.5,
            what=f"study {study_id} to reach {statuses}",
        )

    def logs(self) -> str:
        procs = ([self.api] if self.api else []) + self.workers
        return "\n".join(p.log() for p in procs)

    def stop(self) -> None:
        """The workers asked to stop all at once, each killed if it has not ended within
        ``TEARDOWN_SECONDS`` (then the API): the end of a test, whose outcome is decided. A
        worker that is saving the last study's best model is not waited for (importing torch
        for it takes seconds and cannot be interrupted); a test about how a worker or the API
        stops signals it and checks its exit itself."""
        for proc in self.workers:
            if proc.alive():
                proc.signal(signal.SIGTERM)
        deadline = time.monotonic() + TEARDOWN_SECONDS
        for proc in self.workers:
            proc.stop(timeout=max(0.0, deadline - time.monotonic()))
        if self.api is not None:
            self.api.stop(timeout=TEARDOWN_SECONDS)


class StackFactory(Protocol):
    """The ``stack_factory`` fixture: a :class:`Stack` on ``database_url`` in the test's folder,
    stopped at the test's end."""

    def __call__(self, database_url: str, **env: str) -> Stack: ...


class Processes:
    """How a test starts processes: through the ``processes`` fixtures, which mark it for the full
    tier and stop, at its end, whatever it started and left running."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.started: list[Proc] = []
        self.stacks: list[Stack] = []

    def start(
        self, args: list[str], env: dict[str, str], log_name: str, *, session: bool = False
    ) -> Proc:
        proc = Proc(args, env, self.tmp / log_name, session=session)
        self.started.append(proc)
        return proc

    def stack(self, database_url: str, **env: str) -> Stack:
        self.stacks.append(Stack(database_url, self.tmp, **env))
        return self.stacks[-1]

    def run(
        self, args: list[str], *, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run to completion, capturing text output (``subprocess.run``)."""
        return subprocess.run(
            args, env=owned(env), cwd=ROOT, capture_output=True, text=True, timeout=timeout
        )

    def pty(self, args: list[str], env: dict[str, str], **options: Any) -> tuple[int, str]:
        """Run on a pseudo-terminal (:func:`in_pty`)."""
        return in_pty(args, env, **options)

    def stop(self) -> None:
        for stack in self.stacks:
            stack.stop()
        for proc in self.started:
            proc.stop()

    def procs(self) -> list[Proc]:
        """Every process started, the stacks' first (API, then workers)."""
        ours = [p for s in self.stacks for p in ([s.api] if s.api else []) + s.workers]
        return ours + self.started

    def log_excerpts(self) -> str:
        """What a failed test's processes said that explains it (``log_excerpt`` of each)."""
        return "\n".join(log_excerpt(proc) for proc in self.procs())


def memory_of(pid: int) -> str:
    """A live process's memory and threads, as Linux counts them (``/proc/<pid>/status``)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "running"
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    wanted = ("VmData", "VmRSS", "Threads")
    return "running, " + ", ".join(f"{k} {fields[k].strip()}" for k in wanted if k in fields)


NOTABLE = ('"level": "WARNING"', '"level": "ERROR"', '"level": "CRITICAL"', "Traceback")
"""Log lines a failure report keeps, besides each log's last lines."""


def log_excerpt(proc: Proc, *, last: int = 8, notable: int = 20, width: int = 1500) -> str:
    """``proc``'s exit code (or memory), ``notable`` of its warnings and errors (tracebacks
    included: the first quarter of them from the start, where a cascade began, the rest from
    the end) and its last ``last`` lines, each cut at ``width`` characters: enough to tell what
    a process did when a test that started it failed, where its log file is gone with the
    machine (CI)."""
    try:
        lines = proc.log().splitlines()
    except OSError as exc:
        return f"--- {proc.log_path.name}: unreadable ({exc})"
    tail = set(range(max(0, len(lines) - last), len(lines)))
    marked = [i for i, line in enumerate(lines) if any(m in line for m in NOTABLE)]
    first = notable // 4
    keep = sorted(tail | set(marked[:first]) | set(marked[first - notable :]))
    code = proc.popen.poll()
    state = f"exit {code}" if code is not None else memory_of(proc.pid)
    shown = [f"--- {proc.log_path.name} (pid {proc.pid}, {state}, {len(lines)} lines)"]
    previous = -1
    for i in keep:
        if i > previous + 1:
            shown.append(f"    [... {i - previous - 1} lines]")
        shown.append(f"{i + 1:6d} {lines[i][:width]}")
        previous = i
    return "\n".join(shown)


def study_row(name: str, optuna_study_id: int, status: str, **overrides: Any) -> Any:
    """A regtune study row written straight to the table, for tests of the sweep and catch-up."""
    from regtune.service.store.clock import utcnow
    from regtune.service.store.tables import StudyRow

    now = utcnow()
    fields: dict[str, Any] = {
        "id": name,
        "tenant": "default",
        "name": name,
        "optuna_name": name,
        "optuna_study_id": optuna_study_id,
        "spec": {},
        "status": status,
        "n_trials": 5,
        "max_parallel": 1,
        "max_retries": 2,
        "n_running": 0,
        "n_done": 0,
        "n_claims": 0,
        "n_errors": 0,
        "created_at": now,
        "updated_at": now,
    }
    fields.update(overrides)
    return StudyRow(**fields)


def add_claimed_study(engine: Any, name: str = "claimed") -> None:
    """A running study's row and one claim of it, written straight to the tables of a migrated
    database (what a downgrade must keep)."""
    from regtune.service.store.clock import utcnow
    from regtune.service.store.db import transaction
    from regtune.service.store.tables import ClaimRow

    with transaction(engine) as session:
        session.add(study_row(name, 1, "running", n_running=1))
        session.flush()
        session.add(ClaimRow(study_id=name, worker_id="w", seq=1, claimed_at=utcnow()))


def sqlite_stack(processes: Processes, workers: int) -> Stack:
    """An API and ``workers`` workers on a SQLite file, best models in a folder beside it."""
    tmp = processes.tmp
    stack = processes.stack(
        f"sqlite:///{tmp / 'regtune.db'}", REGTUNE_ARTIFACT_DIR=str(tmp / "artifacts")
    )
    stack.start_api()
    stack.start_workers(workers)
    return stack


def changed(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy of ``body`` with each ``a__b=value`` set at ``body["a"]["b"]``."""
    body = copy.deepcopy(body)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = body
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return body


def garble_schema(database: Path) -> None:
    """Garble the schema of the SQLite file ``database`` as a disk fault (or a hand at
    ``sqlite3``) might: every statement on it then fails with SQLite's ``malformed database
    schema``, in every process and connection, a fault no retry mends."""
    with sqlite3.connect(database) as garbler:
        version = garbler.execute("PRAGMA schema_version").fetchone()[0]
        garbler.execute("PRAGMA writable_schema = ON")
        garbler.execute("UPDATE sqlite_master SET sql = 'not sql' WHERE name = 'regtune_studies'")
        garbler.execute(f"PRAGMA schema_version = {version + 1}")  # every connection rereads it
    garbler.close()


@contextmanager
def sql_run(*, parameters: bool = False) -> Iterator[list[str]]:
    """The SQL statements every engine of this process runs meanwhile, each on one line (with
    its ``parameters`` if asked), from any thread but an in-process API's background sweep."""
    import threading

    from sqlalchemy import Engine, event

    from regtune.service.api.app import Sweeper

    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, given: Any, *_: Any) -> None:
        if not isinstance(threading.current_thread(), Sweeper):
            said = f"{statement} {given}" if parameters else statement
            seen.append(" ".join(said.split()))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)
