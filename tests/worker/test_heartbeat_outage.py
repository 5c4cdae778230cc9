"""Heartbeats through a PostgreSQL restart: one warning that says what failed and that it is
retried, then one line when a heartbeat is recorded again (it logged ``heartbeat failed
(InvalidatePoolError: ())`` and then a line every heartbeat interval for as long as the
database was down)."""

from __future__ import annotations

import contextvars
import logging
import threading
from datetime import UTC, datetime

import psycopg
import pytest
import sqlalchemy.exc

from regtune.service.store.backoff import describe
from regtune.worker.loop import Worker
from tests.inprocess import Apps
from tests.pg import PostgresServer
from tests.support import wait_for

LOGGERS = ("regtune.worker.loop", "regtune.worker.heartbeat")
"""The loop's lines (registered, could not look for work) and the heartbeat's."""


def test_an_error_met_reconnecting_after_a_dead_pooled_connection_is_described_by_its_text() -> (
    None
):
    """What SQLAlchemy's pool raises when a pre-ping finds its connection dead and the new
    connection is refused: the refusal, not the empty ``InvalidatePoolError`` at the chain's
    root."""
    try:
        try:
            try:
                raise sqlalchemy.exc.InvalidatePoolError()  # the pre-ping's
            except sqlalchemy.exc.DisconnectionError:
                raise psycopg.OperationalError("connection failed: Connection refused")  # noqa: B904 - the reconnection's, as the pool raises it
        except psycopg.OperationalError as refused:
            raise sqlalchemy.exc.OperationalError(None, None, refused) from refused
    except sqlalchemy.exc.OperationalError as exc:
        said = describe(exc)
    assert said == "OperationalError: connection failed: Connection refused"


def _messages(caplog: pytest.LogCaptureFixture, start: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name in LOGGERS and r.getMessage().startswith(start)]


def test_heartbeats_through_a_database_restart_are_one_warning_and_one_recovery_line(
    apps: Apps, own_pg: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    api = apps(database_url=own_pg.create_database("beats"), heartbeat_interval=1, grace_period=20)
    for logger in LOGGERS:
        caplog.set_level(logging.INFO, logger=logger)
    worker = Worker()
    thread = threading.Thread(target=contextvars.copy_context().run, args=(worker.run,))
    thread.start()
    try:
        wait_for(lambda: _messages(caplog, "worker "), timeout=60, what="the worker registered")
        own_pg.stop("fast")
        wait_for(
            lambda: (
                _messages(caplog, "could not look for work")
                and _messages(caplog, "heartbeat failed")
            ),
            timeout=120,
            what="the outage seen by the loop and the heartbeat",
        )
        own_pg.start()
        restarted = datetime.now(UTC)

        def beat_since() -> bool:
            live = api.get("/v1/workers").json()
            return any(datetime.fromisoformat(w["last_heartbeat"]) > restarted for w in live)

        wait_for(beat_since, timeout=120, what="a heartbeat recorded after the restart")
    finally:
        worker.stopping.set()
        thread.join(timeout=60)
    (failed,) = _messages(caplog, "heartbeat failed")
    said = failed.getMessage()
    assert failed.levelno == logging.WARNING and failed.exc_info is None
    assert "()" not in said and "InvalidatePoolError" not in said, said
    assert "OperationalError" in said, said
    assert said.endswith("; retrying every 1s until the database answers"), said
    (recovered,) = _messages(caplog, "heartbeat recorded again")
    assert recovered.levelno == logging.INFO
