"""What a process counts as an outage of its database (``store.outages``): a connection that
could not be opened or was found dead, until one opens again; not a statement the database
refused."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from regtune.service.store import outages
from regtune.service.store.db import engine_kwargs
from tests.pg import PostgresServer
from tests.support import wait_for


def test_an_outage_lasts_until_a_connection_opens_and_a_refused_statement_is_none(
    own_pg: PostgresServer,
) -> None:
    url = own_pg.create_database("contact")
    engine = create_engine(url, **engine_kwargs(url))
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        assert outages.steady(engine, 0) and not outages.steady(engine, 3600)
        with pytest.raises(ProgrammingError), engine.connect() as connection:
            connection.execute(text("SELECT * FROM no_such_table"))
        assert outages.steady(engine, 0) and not outages.lost_since(engine, -math.inf)

        own_pg.stop("fast")
        with pytest.raises(OperationalError), engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        assert outages.lost_since(engine, -math.inf)
        assert not outages.steady(engine, 0)  # not reached since: nothing can be judged
        own_pg.start()
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        assert outages.steady(engine, 0)
        assert not outages.steady(engine, 3600)  # reached again, but not for that long
    finally:
        engine.dispose()


def test_a_process_judges_only_the_time_it_has_been_reaching_the_database(
    own_pg: PostgresServer,
) -> None:
    """A process started during or just after an outage finds every heartbeat as old as the
    outage: it may judge a silence only over time it has itself been reaching the database
    (``steady`` was true at once for a database it had never seen break, so its first sweep
    failed the trials of live workers)."""
    url = own_pg.create_database("newcomer")
    engine = create_engine(url, **engine_kwargs(url))
    try:
        assert not outages.steady(engine, 0)  # never reached: nothing can be judged
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        assert not outages.steady(engine, 3600)  # reached, but not for that long
        seconds = 0.5
        wait_for(lambda: outages.steady(engine, seconds), timeout=60, what="reached for 0.5 s")
        other = create_engine(url, **engine_kwargs(url))  # Optuna's engine to the same database
        try:
            assert outages.steady(other, seconds)  # the database's time, not the engine's
        finally:
            other.dispose()
    finally:
        engine.dispose()


def test_a_sqlite_file_is_judged_at_once(tmp_path: Path) -> None:
    """No server to lose: what a process finds there, every process finds alike."""
    engine = create_engine(f"sqlite:///{tmp_path / 'file.db'}")
    try:
        assert outages.steady(engine, math.inf)
    finally:
        engine.dispose()
