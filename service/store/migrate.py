"""Create and upgrade the database: Optuna's tables (through Optuna), then regtune's (Alembic)."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random

from regtune.service.store.db import make_engine
from regtune.service.store.optuna_db.storage import make_storage

VERSION_TABLE = "regtune_alembic_version"
"""Optuna keeps its own ``alembic_version`` table in the same database; ours must not collide."""

log = logging.getLogger(__name__)


RACES = (IntegrityError, OperationalError, ProgrammingError)
"""What one process creating the schema meets when another creates it at the same moment: a
version row the other just stamped (``IntegrityError``), a table it just made (SQLite's
``OperationalError`` "already exists", PostgreSQL's ``ProgrammingError`` ``DuplicateTable`` or
an ``IntegrityError`` on a catalog index). The next try finds them made and goes on."""
ATTEMPTS = 5


def upgrade(url: str) -> None:
    """Bring the database at ``url`` to the newest schema. Safe to run from several processes
    at once (``RACES`` are tried again, ``ATTEMPTS`` times in all: a database that is down
    stays the caller's to wait for)."""
    for attempt in Retrying(
        retry=retry_if_exception_type(RACES),
        stop=stop_after_attempt(ATTEMPTS),
        wait=wait_random(0.05, 0.5),
        reraise=True,
    ):
        with attempt:
            _upgrade(url)
    log.info("database is at the newest schema")


def _upgrade(url: str) -> None:
    storage = make_storage(url)  # creates or upgrades Optuna's tables, which ours index
    storage.remove_session()
    storage.engine.dispose()  # else its connections stay open until a garbage collection
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config = Config()
            config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()
