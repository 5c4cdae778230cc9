"""Trial heartbeats (a fused run's members each beat every interval) through a PostgreSQL
outage: one warning, on one line, then one line when a beat is recorded again; it was a
warning per member per missed beat, each with SQLAlchemy's three-line text, dozens a minute."""

from __future__ import annotations

import logging
import warnings

import optuna
import pytest

from regtune.service.store.optuna_db.internals.handles import trial_id_of
from regtune.service.store.optuna_db.storage import make_storage
from tests.pg import PostgresServer
from tests.support import wait_for

LOGGER = "regtune.service.store.optuna_db.storage"


def test_missed_trial_heartbeats_are_one_warning_and_one_recovery_line(
    own_pg: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    storage = make_storage(own_pg.create_database("beats"))
    study = optuna.create_study(storage=storage)
    with warnings.catch_warnings():  # "heartbeat … used with Study.optimize": as fused runs ask
        warnings.simplefilter("ignore", UserWarning)
        trial_ids = [trial_id_of(study.ask()) for _ in range(3)]
    caplog.set_level(logging.INFO, logger=LOGGER)

    own_pg.stop("fast")
    for _ in range(4):
        for trial_id in trial_ids:
            storage.record_heartbeat(trial_id)  # missed, not raised
    own_pg.start()

    def recovered() -> bool:
        storage.record_heartbeat(trial_ids[0])
        return any("recorded again" in r.getMessage() for r in caplog.records)

    wait_for(recovered, timeout=120, what="a heartbeat recorded after the restart")
    for trial_id in trial_ids:
        storage.record_heartbeat(trial_id)
    lines = [r for r in caplog.records if r.name == LOGGER]
    assert [r.levelno for r in lines] == [logging.WARNING, logging.INFO], lines
    missed, again = (r.getMessage() for r in lines)
    assert missed.startswith("trial heartbeat missed (") and "\n" not in missed, missed
    assert "OperationalError" in missed, missed
    assert again.startswith("trial heartbeats recorded again after "), again
    assert int(again.split("after ")[1].split()[0]) >= 12, again
