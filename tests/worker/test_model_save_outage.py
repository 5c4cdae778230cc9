"""A database outage while a worker saves a completed study's best model is an expected event:
one warning line that names the study and the database's error, no traceback (a PostgreSQL
stopped for a restart while the last trial's worker retrained the best model logged 120 lines
of traceback under "could not save the best model")."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from regtune.service.settings import Settings, use_settings
from regtune.worker.loop import Worker
from tests.inprocess import reset_process_state
from tests.support import free_port


@pytest.fixture
def refused_database() -> Iterator[Settings]:
    """Settings whose PostgreSQL refuses connections, as one that is down does."""
    settings = Settings(database_url=f"postgresql://regtune@127.0.0.1:{free_port()}/regtune")
    use_settings(settings)
    reset_process_state()
    try:
        yield settings
    finally:
        use_settings(None)
        reset_process_state()


def test_a_model_save_cut_off_by_an_outage_is_one_warning_line(
    refused_database: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    worker = Worker(refused_database)
    with caplog.at_level(logging.INFO, logger="regtune.worker.model_save"):
        worker._save_best_model("0123456789abcdef")

    (record,) = [r for r in caplog.records if r.name == "regtune.worker.model_save"]
    assert record.levelno == logging.WARNING, record.getMessage()
    assert record.exc_info is None, "an outage is logged without a traceback"
    message = record.getMessage()
    assert "study 0123456789abcdef: best model not saved, the database failed" in message
    assert "OperationalError" in message and "catch-up" in message, message
