"""Create and upgrade the database: Optuna's tables (through Optuna), then regtune's (Alembic)."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

from regtune.service.store.db import make_engine
from regtune.service.store.optuna_db.storage import make_storage

VERSION_TABLE = "regtune_alembic_version"
"""Optuna keeps its own ``alembic_version`` table in the same database; ours must not collide."""

log = logging.getLogger(__name__)


def upgrade(url: str) -> None:
    """Bring the database at ``url`` to the newest schema. Safe to run from several processes."""
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
    log.info("database is at the newest schema")
