"""What the API's sweeper logs through a PostgreSQL outage: one warning at the first sweep that
could not reach the database and one line once a sweep does again (it logged "sweep failed,
retrying later: OperationalError" at every interval, twelve lines a minute by default)."""

from __future__ import annotations

import logging

import pytest

from tests.inprocess import Apps
from tests.pg import PostgresServer
from tests.support import assert_outage_said_once, wait_for

APP = "regtune.service.api.app"


def said(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [
        (r.levelno, r.getMessage())
        for r in caplog.records
        if r.name == APP and "sweep" in r.getMessage()
    ]


def test_the_sweeper_says_an_outage_once_and_once_that_it_ended(
    apps: Apps, own_pg: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    api = apps(database_url=own_pg.create_database("sweeps"), sweep_interval=0.2)
    caplog.set_level(logging.INFO, logger=APP)
    sweeper = api.app.state.sweeper  # type: ignore[attr-defined]
    own_pg.stop("fast")
    wait_for(lambda: sweeper.outage.failures >= 5, timeout=60, what="five sweeps failed")
    own_pg.start()
    wait_for(
        lambda: any("sweep: done" in m for _, m in said(caplog)),
        timeout=120,
        what="a sweep after the restart",
    )
    assert_outage_said_once(said(caplog), "sweep", tries=6)
