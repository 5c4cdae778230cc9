"""A database under test at its newest schema, handed to every call of a store test: regtune's
engine and Optuna's storage on it, with retries, disposed of at the end."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import optuna
from sqlalchemy import Engine

from regtune.service.settings import Settings
from regtune.service.store.db import make_engine
from regtune.service.store.migrate import upgrade
from regtune.service.store.scheduling.retries import storage_with_retries


@dataclass
class Db:
    """The database under test: nothing reads the process's settings for it."""

    engine: Engine
    storage: optuna.storages.RDBStorage


@contextmanager
def opened(database_url: str, settings: Settings | None = None) -> Iterator[Db]:
    """``database_url`` migrated, as a ``Db`` (its storage's heartbeat settings ``settings``'s,
    else the process's)."""
    upgrade(database_url)
    found = Db(make_engine(database_url), storage_with_retries(database_url, settings=settings))
    try:
        yield found
    finally:
        found.engine.dispose()
        found.storage.engine.dispose()
