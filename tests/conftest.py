"""Fixtures, and the tiers they decide.

A test is in the full tier because of what it asks for, never because of its folder: a fixture
that starts a process marks it ``process``; PostgreSQL (the ``pg`` fixtures, or a ``postgresql``
parameter) ``postgresql``; helm ``helm``; Chromium ``browser``; docker-compose ``docker``; a
benchmark's ``--quick`` run in the test's process ``bench``. ``make test-fast`` deselects all
six. Every process a test starts carries the session's id in its environment, and the session
fails if one is still running at its end.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.inprocess import Apps, migrated_template
from tests.packaging import ClientInstall, Distributions
from tests.pg import BACKENDS, PostgresServer, postgres_server
from tests.support import OWNER, Processes, Stack, StackFactory, leftovers

MARKS = {
    "process": {
        "processes",
        "module_processes",
        "stack_factory",
        "spawn",
        "client_install",
        "distributions",
        "bench_with_servers",
    },
    "postgresql": {"pg", "pg_url", "own_pg"},
    "helm": {"helm"},
    "browser": {"browser"},
    "docker": {"docker_compose"},
    "bench": {"bench"},
}


def pytest_configure(config: pytest.Config) -> None:
    # xdist's workers inherit the controller's id, so the controller can check for all of them
    os.environ.setdefault(OWNER, f"{os.getpid()}-{uuid.uuid4().hex[:8]}")
    _hear_ctrl_c()


def _hear_ctrl_c() -> None:
    """Let the processes the tests start hear SIGINT, which several tests send as a user's
    Ctrl-C: a suite started in the background by a shell without job control (``make test &``,
    ``nohup``) inherits SIGINT ignored, and a process started with it ignored keeps it so (Python
    then installs no KeyboardInterrupt). A handler of this process's own is reset to the default
    in every process it starts."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by the fixtures it uses (directly or through other fixtures)."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        params = set(map(str, callspec.params.values())) if callspec else set()
        for mark, fixtures in MARKS.items():
            if names & fixtures or mark in params:
                item.add_marker(mark)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test that started processes reports what they logged (``log_excerpts``)."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if report.when != "call" or not report.failed:
        return
    funcargs = getattr(item, "funcargs", {})
    for name in ("processes", "module_processes"):
        started = funcargs.get(name)
        if isinstance(started, Processes) and started.procs():
            report.sections.append((f"what the processes logged ({name})", started.log_excerpts()))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Fail the run if a process a test started outlived the tests (after fixture teardown)."""
    if hasattr(session.config, "workerinput"):
        return  # an xdist worker: the controller checks once every worker is done
    mine = os.environ[OWNER]
    deadline = time.monotonic() + 10  # a process told to stop may still be on its way out
    while (left := leftovers(mine)) and time.monotonic() < deadline:
        time.sleep(0.2)
    if not left:
        return
    for pid, _ in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = "\n".join(f"  pid {pid}: {command}" for pid, command in left)
    message = f"processes started by tests were still running at the end (killed now):\n{lines}"
    if reporter is not None:
        reporter.write_line(message, red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


# ------------------------------------------------------------------------------- packaging


@pytest.fixture(scope="session")
def client_install(tmp_path_factory: pytest.TempPathFactory) -> ClientInstall:
    """``pip install .`` without extras in a fresh virtual environment (full tier: pip resolves
    the client's dependencies from the configured package sources, ~30 s)."""
    return ClientInstall.make(tmp_path_factory.mktemp("client-install"))


@pytest.fixture(scope="session")
def distributions(tmp_path_factory: pytest.TempPathFactory) -> Distributions:
    """The sdist and the wheel of a copy of the checkout, and a wheel built from that sdist
    (full tier: three builds with this environment's setuptools, a few seconds)."""
    return Distributions.make(tmp_path_factory.mktemp("distributions"))


# ------------------------------------------------------------------------------- in-process API


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_template(tmp_path_factory.mktemp("template"))


@pytest.fixture
def apps(tmp_path: Path, migrated_db: Path) -> Iterator[Apps]:
    """``apps(**settings)``: a TestClient of the app factory's app on a fresh SQLite file."""
    made = Apps(tmp_path, migrated_db)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def api(apps: Apps) -> TestClient:
    """The API in this process with default settings, on an empty database."""
    return apps()


# ------------------------------------------------------------------------------- databases


@pytest.fixture
def oslo_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process on Oslo's clock (+01:00, +02:00 from 2026-03-29): local time is not UTC."""
    monkeypatch.setenv("TZ", "Europe/Oslo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(scope="session")
def pg() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


@pytest.fixture
def own_pg() -> Iterator[PostgresServer]:
    """A PostgreSQL of this test's own, so stopping or restarting it disturbs no other test."""
    with postgres_server() as server:
        yield server


def make_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'regtune.db'}"
    server: PostgresServer = request.getfixturevalue("pg")
    return server.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each backend."""
    return make_url(request.param, tmp_path, request)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'regtune.db'}"


@pytest.fixture
def pg_url(pg: PostgresServer) -> str:
    return pg.create_database(f"t_{uuid.uuid4().hex[:12]}")


# ------------------------------------------------------------------------------- processes


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    """Start processes (``start``, ``run``, ``pty``, ``stack``); what is left running is stopped
    when the test ends."""
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def spawn() -> Iterator[multiprocessing.context.SpawnContext]:
    """Python's ``spawn`` start method for a test's own processes; any left alive are killed."""
    yield multiprocessing.get_context("spawn")
    for child in multiprocessing.active_children():
        child.kill()
        child.join(timeout=10)


@pytest.fixture(scope="module")
def module_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Processes]:
    """:func:`processes` for a module's shared stack."""
    started = Processes(tmp_path_factory.mktemp("processes"))
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def stack_factory(processes: Processes) -> StackFactory:
    class _Stack(Stack):
        def __init__(self, database_url: str, **env: str) -> None:
            super().__init__(database_url, processes.tmp, **env)
            processes.stacks.append(self)

    return _Stack
