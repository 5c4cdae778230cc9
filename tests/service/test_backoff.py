"""Retrying while the database is away: transient errors wait, others and a stop do not."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

import pytest
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError, ProgrammingError

from regtune.service.store.backoff import caused_by_database, database_error, retry_forever


def _flaky(failures: int) -> tuple[list[int], Callable[[], str]]:
    calls: list[int] = []

    def action() -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise OperationalError("SELECT 1", {}, ConnectionError("server closed the connection"))
        return "done"

    return calls, action


def test_transient_errors_are_retried_until_success() -> None:
    calls, action = _flaky(3)
    assert retry_forever(action, what="test", first=0.001, cap=0.002) == "done"
    assert len(calls) == 4


def test_other_errors_are_not_retried() -> None:
    calls: list[int] = []

    def action() -> None:
        calls.append(1)
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError):
        retry_forever(action, what="test", first=0.001)
    assert calls == [1]


def test_a_stop_gives_up_with_the_last_error() -> None:
    stop = threading.Event()
    stop.set()
    calls, action = _flaky(100)
    with pytest.raises(OperationalError):
        retry_forever(action, what="test", first=0.001, stop=stop)
    assert len(calls) == 1


@pytest.mark.parametrize(
    "refusal",
    [
        IntegrityError("INSERT ...", {}, sqlite3.IntegrityError("UNIQUE constraint failed")),
        ProgrammingError("SELECT ...", {}, sqlite3.ProgrammingError("no such column")),
        DataError("INSERT ...", {}, sqlite3.DataError("string or blob too big")),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_statement_the_database_refuses_is_not_waited_out(refusal: DBAPIError) -> None:
    """It fails the same way every time: retried (or its trial handed back) it loops for ever."""
    calls: list[int] = []

    def action() -> None:
        calls.append(1)
        raise refusal

    with pytest.raises(type(refusal)):
        retry_forever(action, what="test", first=0.001)
    assert calls == [1]
    assert not caused_by_database(refusal)
    try:  # as the worker sees it: raised while handling another error
        try:
            raise refusal
        except DBAPIError as exc:
            raise RuntimeError("recording the trial failed too") from exc
    except RuntimeError as chained:
        assert not caused_by_database(chained)
    outage = OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked"))
    assert caused_by_database(outage)


@pytest.mark.parametrize(
    ("root", "shown"),
    [
        (
            'connection to server at "10.1.2.3", port 5432 failed: Connection refused',
            "it refuses connections or cannot be reached (down or restarting)",
        ),
        (
            'connection to server on socket "/run/pg/.s.PGSQL.5432" failed: FATAL:  the '
            'database "rt" does not exist',
            'Error: connection to server failed: FATAL:  the database "rt" does not exist',
        ),
        (
            'could not translate host name "db.internal" to address: unknown host',
            "Error: could not translate host to address: unknown host",
        ),
        (
            "unable to open database file /srv/regtune/r.db",
            "Error: unable to open database file <path>",
        ),
        ("no such table: regtune_left_out", "Error: no such table: regtune_left_out"),
    ],
)
def test_a_database_error_as_a_tenant_reads_it_names_no_address(root: str, shown: str) -> None:
    """What a trial or study says of a database error: the cause, not where the database is."""
    error = OperationalError("SELECT 1", {}, Exception(root))
    error.__cause__ = type("Error", (Exception,), {})(root)
    assert database_error(error) == shown


def test_an_outage_is_one_warning_and_one_line_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """It was a warning per attempt ("retrying in 8.3s"), for as long as the database was away."""
    _, action = _flaky(6)
    caplog.set_level(logging.INFO, logger="regtune.service.store.backoff")
    assert retry_forever(action, what="fail the trial", first=0.001, cap=0.002) == "done"
    said = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert said == [
        (
            logging.WARNING,
            "could not fail the trial (OperationalError: (builtins.ConnectionError) server "
            "closed the connection); retrying until the database answers",
        ),
        (logging.INFO, "fail the trial: done after 7 tries (the database answers again)"),
    ], said


def test_a_new_error_meanwhile_is_said(caplog: pytest.LogCaptureFixture) -> None:
    errors = [ConnectionError("server closed the connection")] * 2 + [ConnectionRefusedError()]

    def action() -> str:
        if errors:
            raise OperationalError("SELECT 1", {}, errors.pop(0))
        return "done"

    caplog.set_level(logging.WARNING, logger="regtune.service.store.backoff")
    retry_forever(action, what="test", first=0.001, cap=0.002)
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2 and said[1].startswith("still could not test after 3 tries ("), said


def test_a_wait_begun_while_handling_an_error_names_the_errors_it_meets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A hand-back waits in the ``except`` block of the error that stopped its trial, so Python
    links that error to every error the wait meets: each warning named it (the first error of
    the outage), and a new error meanwhile was never said."""
    meets = [ConnectionRefusedError("Connection refused")] * 2 + [
        ConnectionError("the database system is starting up")
    ]

    def action() -> str:
        if meets:
            raise OperationalError("UPDATE trials", {}, meets.pop(0))
        return "done"

    caplog.set_level(logging.INFO, logger="regtune.service.store.backoff")
    stopped = ConnectionError("terminating connection due to administrator command")
    try:
        raise OperationalError("INSERT INTO trial_values", {}, stopped)
    except OperationalError:
        retry_forever(action, what="fail the trial", first=0.001, cap=0.002)
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        "could not fail the trial (OperationalError: (builtins.ConnectionRefusedError) "
        "Connection refused); retrying until the database answers",
        "still could not fail the trial after 3 tries (OperationalError: "
        "(builtins.ConnectionError) the database system is starting up)",
        "fail the trial: done after 4 tries (the database answers again)",
    ], said


def test_an_error_the_caller_warned_of_is_not_said_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, action = _flaky(2)
    caplog.set_level(logging.INFO, logger="regtune.service.store.backoff")
    said_before = "OperationalError: (builtins.ConnectionError) server closed the connection"
    retry_forever(action, what="fail the trial", first=0.001, cap=0.002, said=said_before)
    said = [r.getMessage() for r in caplog.records]
    assert said == ["fail the trial: done after 3 tries (the database answers again)"], said
