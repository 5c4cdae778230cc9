"""Log lines for people on a terminal, JSON lines for machines, and no library chatter."""

from __future__ import annotations

import io
import json
import logging
import os
import pty
import re
import select
import warnings
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from fastapi.testclient import TestClient

from regtune.service import logs
from tests.support import Processes, process_env, regtune

PERSON = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} ")  # "12:04:31.207 INFO  logger  message"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """``setup`` reconfigures the process's logging: give the next test the logging it had."""
    root, optuna_root = logging.getLogger(), logging.getLogger("optuna")
    saved = (root.handlers[:], root.level, optuna_root.handlers[:], optuna_root.propagate)
    with warnings.catch_warnings():
        yield
        logging.captureWarnings(False)
    root.handlers[:], level, optuna_root.handlers[:], optuna_root.propagate = saved
    root.setLevel(level)


@pytest.fixture
def terminal() -> Iterator[tuple[io.TextIOWrapper, int]]:
    """A real pseudo-terminal: (the stream a process writes to, the fd a person reads from)."""
    leader, follower = pty.openpty()
    stream = open(follower, "w", buffering=1, closefd=True)  # noqa: SIM115 - closed below
    try:
        yield stream, leader
    finally:
        stream.close()
        os.close(leader)


def read_terminal(fd: int) -> str:
    chunks = []
    while select.select([fd], [], [], 0.2)[0]:
        chunks.append(os.read(fd, 65536))
    return b"".join(chunks).decode().replace("\r\n", "\n")


def log_a_trial_line() -> None:
    with logs.context(study_id="s-1", trial=3):
        logging.getLogger("regtune.worker.loop").info("trial started with Bearer rt_secret123456")


def test_a_terminal_gets_lines_for_people(terminal: tuple[io.TextIOWrapper, int]) -> None:
    stream, fd = terminal
    logs.setup(fmt="auto", stream=stream)
    log_a_trial_line()
    logging.getLogger("service.x").warning("disk almost full")
    first, second = read_terminal(fd).splitlines()
    assert PERSON.match(first), first
    assert "INFO" in first and "regtune.worker.loop" in first and "trial started" in first
    assert first.endswith("study=s-1 trial=3")
    assert "rt_secret123456" not in first and "***" in first
    assert "\x1b[33mWARNING" in second  # the level stands out on a colour terminal
    with pytest.raises(json.JSONDecodeError):
        json.loads(first)


def test_a_file_or_pipe_gets_json_lines() -> None:
    stream = io.StringIO()
    logs.setup(fmt="auto", stream=stream)
    log_a_trial_line()
    (record,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert record["logger"] == "regtune.worker.loop" and record["level"] == "INFO"
    assert record["study_id"] == "s-1" and record["trial"] == 3
    assert "rt_secret123456" not in record["msg"]


@pytest.mark.parametrize(
    ("said", "shown"),
    [
        (
            "cannot reach postgresql+psycopg://rt:s3cr@t@db:5432/regtune",
            "cannot reach postgresql+psycopg://rt:***@db:5432/regtune",
        ),
        (
            "cannot reach postgresql://rt@db/regtune?sslmode=require&password=s3cret (timeout)",
            "cannot reach postgresql://rt@db/regtune?sslmode=require&password=*** (timeout)",
        ),
        ("GET http://db:80/v1/a@b?x=1 200", "GET http://db:80/v1/a@b?x=1 200"),
    ],
)
def test_a_password_in_a_url_is_masked_in_every_log_line(said: str, shown: str) -> None:
    """A library's message may hold the database URL (libpq takes ``?password=`` as well as a
    password before the ``@``)."""
    stream = io.StringIO()
    logs.setup(fmt="json", stream=stream)
    logging.getLogger("sqlalchemy.pool").warning(said)
    (record,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert record["msg"] == shown


def test_the_format_setting_overrides_the_guess(terminal: tuple[io.TextIOWrapper, int]) -> None:
    stream, fd = terminal
    logs.setup(fmt="json", stream=stream)
    log_a_trial_line()
    assert json.loads(read_terminal(fd))["trial"] == 3

    piped = io.StringIO()
    logs.setup(fmt="text", stream=piped)
    log_a_trial_line()
    line = piped.getvalue().strip()
    assert PERSON.match(line) and "\x1b[" not in line  # no colour codes into a file


def test_library_start_up_chatter_is_quiet_unless_debugging(sqlite_url: str) -> None:
    from regtune.service.store.migrate import upgrade

    stream = io.StringIO()
    logs.setup(fmt="json", level="INFO", stream=stream)
    upgrade(sqlite_url)  # Alembic's plugin set-up and migration context log at INFO
    logging.getLogger("uvicorn.error").info("Waiting for application startup.")
    logging.getLogger("uvicorn.error").error("Exception in ASGI application")
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    names = {r["logger"] for r in records}
    assert not any(n.startswith("alembic") for n in names), names
    assert [r["msg"] for r in records if r["logger"] == "uvicorn.error"] == [
        "Exception in ASGI application"  # a library's warnings and errors still come through
    ]
    assert "py.warnings" not in names  # Optuna's experimental-heartbeat warning

    stream = io.StringIO()
    logs.setup(fmt="json", level="INFO", stream=stream)
    optuna.create_study()  # what report_figures.search_study makes for a report's plots
    assert "created in memory" not in stream.getvalue()  # was one line per report

    stream = io.StringIO()
    logs.setup(fmt="json", level="DEBUG", stream=stream)
    logging.getLogger("uvicorn.error").info("Waiting for application startup.")
    assert '"msg": "Waiting for application startup."' in stream.getvalue()


def on_terminal(processes: Processes, args: list[str], env: dict[str, str]) -> str:
    code, shown = processes.pty(args, env, timeout=120)
    assert code == 0, shown
    return shown.replace("\r\n", "\n")


def test_regtune_migrate_talks_to_a_person_and_to_a_pipe(
    tmp_path: Path, processes: Processes
) -> None:
    env = process_env(f"sqlite:///{tmp_path / 'regtune.db'}")
    env.pop("REGTUNE_LOG_FORMAT", None)
    misspelt = {**env, "REGTUNE_HEARTBEAT_INTERVALL": "30"}  # ignored, but said
    shown = on_terminal(processes, regtune("migrate"), misspelt).strip().splitlines()
    assert shown and all(PERSON.match(line) for line in shown), shown
    assert "REGTUNE_HEARTBEAT_INTERVALL is no setting and is ignored: did you mean " in shown[0]
    assert "created the schema to revision " in shown[-2]  # what the job changed
    assert "database is at the newest schema" in shown[-1]
    assert not [line for line in shown if "alembic" in line or "Warning" in line], shown

    piped = processes.run(regtune("migrate"), env=env)
    assert piped.returncode == 0, piped.stderr
    records = [json.loads(line) for line in piped.stderr.splitlines()]  # every line parses
    assert [r["msg"] for r in records] == ["database is at the newest schema"]

    as_set = on_terminal(processes, regtune("migrate"), {**env, "REGTUNE_LOG_FORMAT": "json"})
    assert json.loads(as_set.strip())["msg"] == "database is at the newest schema"


def test_a_worker_s_id_leaves_the_log_context_when_its_loop_ends(api: TestClient) -> None:
    """A worker run in a process that goes on (a test, a bench) does not sign later lines."""
    from regtune.worker.loop import Worker

    assert Worker().run(max_trials=0) == 0
    assert logs.worker_var.get() is None


def test_the_log_level_holds_for_libraries_with_a_level_of_their_own() -> None:
    """``REGTUNE_LOG_LEVEL=WARNING`` left out regtune's INFO lines but not Optuna's, whose logger
    sets INFO itself: every trial's "Trial N finished" line was still written. uvicorn's line
    about a replaced API process, raised to a WARNING, still shows."""
    stream = io.StringIO()
    optuna_level = logging.getLogger("optuna").level
    optuna.logging.set_verbosity(optuna.logging.INFO)  # Optuna's own default
    try:
        logs.setup(fmt="json", level="WARNING", stream=stream)
        logging.getLogger("optuna.study.study").info("Trial 0 finished with value: 0.5")
        logging.getLogger("regtune.worker.loop").info("trial started")
        logging.getLogger("uvicorn.error").info("Child process [4711] died")
        logging.getLogger("regtune.worker.loop").warning("disk almost full")
    finally:
        logging.getLogger("optuna").setLevel(optuna_level)
    said = [json.loads(line)["msg"] for line in stream.getvalue().splitlines()]
    assert len(said) == 2, said
    assert said[0].startswith("API process 4711 ended") and said[1] == "disk almost full"
