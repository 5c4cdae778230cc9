"""Starting the parts when something is wrong: a signal ends the wait for a database that does
not answer, a bad setting or an unreachable database is one line and a failure status, and an
API process that cannot start fails ``regtune api``."""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path

import pytest

from tests.support import Processes, free_port, process_env, regtune, wait_for

BOX = set("│╭╮╰╯─┌┐└┘")
"""Rich's traceback boxes."""


def unreachable() -> str:
    """A PostgreSQL URL with a password, on a port nobody listens on."""
    return f"postgresql://regtune:s3cret-pw@127.0.0.1:{free_port()}/regtune"


@pytest.mark.parametrize(
    ("workers", "sig"),
    [(1, signal.SIGTERM), (2, signal.SIGTERM), (2, signal.SIGINT)],
    ids=["1-SIGTERM", "2-SIGTERM", "2-SIGINT"],
)
def test_api_waiting_for_its_database_stops_on_a_signal(
    tmp_path: Path, processes: Processes, workers: int, sig: signal.Signals
) -> None:
    api = processes.start(
        regtune("api", "--port", str(free_port()), "--workers", str(workers)),
        process_env(unreachable()),
        "api.log",
    )
    wait_for(lambda: "could not migrate the database" in api.log(), timeout=60, what="a retry")

    api.signal(sig)
    api.popen.wait(timeout=30)

    assert api.popen.returncode == 128 + sig, api.log()
    last = api.log().strip().splitlines()[-1]
    assert last.startswith(f"error: stopped by {sig.name} before the database answered"), last
    assert "s3cret-pw" not in api.log()


FOLDER = "REGTUNE_DATABASE_URL: the SQLite file's folder"
GRACE = "REGTUNE_GRACE_PERIOD: must be at least 3 × REGTUNE_HEARTBEAT_INTERVAL"
BAD = [
    ({"REGTUNE_HEARTBEAT_INTERVAL": "abc"}, ["worker"], "REGTUNE_HEARTBEAT_INTERVAL: Input"),
    ({"REGTUNE_GRACE_PERIOD": "x"}, ["api"], "REGTUNE_GRACE_PERIOD: Input"),
    ({"regtune_grace_period": "x"}, ["api"], "regtune_grace_period: Input"),
    # a grace period that leaves no room for a missed heartbeat: the sweep failed live trials
    ({"REGTUNE_HEARTBEAT_INTERVAL": "30"}, ["worker"], GRACE),
    ({"REGTUNE_HEARTBEAT_INTERVAL": "30"}, ["serve"], GRACE),
    ({"REGTUNE_GRACE_PERIOD": "2"}, ["api"], GRACE),  # the tests' heartbeat is 1 s
    # an idle back-off that shrinks: the worker registered, then died in a traceback, exit 1
    ({"REGTUNE_POLL_MIN": "10", "REGTUNE_POLL_MAX": "1"}, ["worker"],
     "REGTUNE_POLL_MAX: must be at least REGTUNE_POLL_MIN (10 s)"),
    ({"REGTUNE_DATABASE_URL": "notaurl"}, ["migrate"], "REGTUNE_DATABASE_URL: cannot be parsed"),
    ({"REGTUNE_DATABASE_URL": "notaurl"}, ["worker"], "REGTUNE_DATABASE_URL: cannot be parsed"),
    ({"REGTUNE_DATABASE_URL": "foo://bar"}, ["api"], "REGTUNE_DATABASE_URL: SQLAlchemy has no"),
    ({"REGTUNE_DATABASE_URL": "unreachable"}, ["migrate"], "cannot reach the database at"),
    ({"REGTUNE_DATABASE_URL": "unreachable"}, ["dashboard"], "cannot reach the database at"),
    ({"REGTUNE_DATABASE_URL": "missing"}, ["migrate"], FOLDER),
    ({"REGTUNE_DATABASE_URL": "missing"}, ["dashboard"], "cannot reach the database at"),
    # a SQLite folder that does not exist is no outage: the API and workers waited for ever
    ({"REGTUNE_DATABASE_URL": "missing"}, ["worker"], FOLDER),
    ({"REGTUNE_DATABASE_URL": "missing"}, ["api"], FOLDER),
    ({"REGTUNE_DATABASE_URL": "missing"}, ["serve"], FOLDER),
    # a backend regtune does not run on, a driver not installed: they ended in a traceback
    ({"REGTUNE_DATABASE_URL": "mysql://u:s3cret-pw@h/d"}, ["worker"], "REGTUNE_DATABASE_URL: "
     "regtune runs on SQLite (sqlite:///path/to/file.db) or PostgreSQL"),
    ({"REGTUNE_DATABASE_URL": "postgresql+psycopg2://u:s3cret-pw@h/d"}, ["api"],
     "REGTUNE_DATABASE_URL: the driver of 'postgresql+psycopg2' is not installed"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("env", "command", "expected"),
    BAD,
    ids=[
        f"{command[0]}-" + ",".join(f"{name}={value}" for name, value in env.items())
        for env, command, _ in BAD
    ],
)
def test_a_bad_setting_is_one_line_and_a_failure(
    tmp_path: Path, processes: Processes, env: dict[str, str], command: list[str], expected: str
) -> None:
    places = {"unreachable": unreachable(), "missing": f"sqlite:///{tmp_path}/no/such/dir.db"}
    env = {name: places.get(value, value) for name, value in env.items()}
    if command[0] in ("api", "dashboard", "serve"):
        command = [*command, "--port", str(free_port())]
    base = process_env(f"sqlite:///{tmp_path / 'regtune.db'}")
    base = {name: value for name, value in base.items() if name.upper() not in map(str.upper, env)}
    result = processes.run(regtune(*command), env={**base, **env}, timeout=120)

    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0, result.stderr
    if not expected.startswith("cannot reach"):  # a setting the user can fix: usage, 2
        assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {expected}"), lines[0]
    assert "Traceback" not in result.stderr and not BOX & set(result.stderr)
    assert "s3cret-pw" not in result.stderr + result.stdout


def test_api_with_an_unknown_database_driver_exits_non_zero(
    tmp_path: Path, processes: Processes
) -> None:
    """It used to start its processes, see them fail and exit 0: a supervisor saw success."""
    for workers in ("1", "2"):
        result = processes.run(
            regtune("api", "--port", str(free_port()), "--workers", workers),
            env=process_env("foo://bar"),
            timeout=120,
        )
        assert result.returncode != 0, result.stderr
        assert "REGTUNE_DATABASE_URL" in result.stderr and "'foo'" in result.stderr


def test_api_processes_that_cannot_start_give_a_failure_status(
    tmp_path: Path, processes: Processes
) -> None:
    """uvicorn's supervisor stops when a process fails to start and returns as after a Ctrl-C;
    the status says it failed (the contract on the supervisor's processes and exit codes)."""
    port = free_port()
    script = (
        "import sys\n"
        "from regtune.service.api.multiprocess import serve\n"
        f"sys.exit(serve('tests.service.unstartable_app:create_app', host='127.0.0.1', "
        f"port={port}, processes=2))\n"
    )
    env = process_env(f"sqlite:///{tmp_path / 'regtune.db'}")
    result = processes.run([sys.executable, "-c", script], env=env, timeout=120)

    assert result.returncode != 0, result.stderr
    assert "could not start" in result.stderr, result.stderr


@pytest.mark.parametrize("command", ["migrate", "api", "serve", "worker", "dashboard"])
def test_a_file_that_is_not_a_database_is_one_line_and_a_setting(
    tmp_path: Path, processes: Processes, command: str
) -> None:
    """A CSV named by REGTUNE_DATABASE_URL: each command ended in a traceback of 500-620 lines
    from SQLite's "file is not a database", exit 1."""
    not_a_database = tmp_path / "no.db"
    not_a_database.write_text("a,b\n")
    options = {"serve": ["--workers", "0"]}.get(command, [])
    if command in ("api", "serve", "dashboard"):
        options += ["--port", str(free_port())]
    result = processes.run(
        regtune(command, *options), env=process_env(f"sqlite:///{not_a_database}"), timeout=120
    )

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and not BOX & set(result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: REGTUNE_DATABASE_URL: the file {str(not_a_database)!r} is not a SQLite database "
        "(file is not a database): point it at a regtune database or a path that does not "
        f"exist yet, got 'sqlite:///{not_a_database}'"
    ], result.stderr
    assert not_a_database.read_text() == "a,b\n"  # left as it was


def test_a_sqlite_error_without_an_error_code_is_no_setting_to_change() -> None:
    """``sqlite3.ProgrammingError`` ("Cannot operate on a closed database") is a DatabaseError
    without ``sqlite_errorcode``: reading it raised an AttributeError that buried the error."""
    import sqlite3

    from regtune.service.cli.failures import _not_a_database

    assert _not_a_database(sqlite3.ProgrammingError("Cannot operate on a closed database")) is None


@pytest.mark.parametrize("workers", ["1", "2"])
def test_api_on_a_port_in_use_is_one_line_and_a_setting(
    tmp_path: Path, processes: Processes, workers: str
) -> None:
    """``regtune api`` migrated, logged "API on http://…" for an API that never served, then
    uvicorn's bind error, exit 3; ``regtune serve`` said it in one line before starting."""
    database = tmp_path / "regtune.db"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = processes.run(
            regtune("api", "--port", str(port), "--workers", workers),
            env=process_env(f"sqlite:///{database}"),
            timeout=120,
        )

    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: cannot listen for the API on 127.0.0.1:{port}: Address already in use (is "
        "another regtune API running?); stop it or choose another --port"
    ], result.stderr
    assert "API on http" not in result.stderr + result.stdout
    assert not database.exists()  # nothing was migrated for an API that cannot serve
