"""What a process counts as an outage of its database (``store.outages``): a connection that
could not be opened or was found dead, until one opens again; not a statement the database
refused."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from regtune.service.store import outages
from regtune.service.store.db import engine_kwargs
from tests.pg import PostgresServer


def test_an_outage_lasts_until_a_connection_opens_and_a_refused_statement_is_none(
    own_pg: PostgresServer,
) -> None:
    url = own_pg.create_database("contact")
    engine = create_engine(url, **engine_kwargs(url))
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        assert outages.steady(engine, math.inf)  # never lost: judged at once
        with pytest.raises(ProgrammingError), engine.connect() as connection:
            connection.execute(text("SELECT * FROM no_such_table"))
        assert outages.steady(engine, math.inf) and not outages.lost_since(engine, -math.inf)

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
