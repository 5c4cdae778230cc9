"""Whether Optuna's tables are at the schema the installed Optuna writes: the revision in its own
``alembic_version`` table against the newest of the migrations it ships (read once a process),
and the databases this process has found at the newest schemas (its storages need not create or
check Optuna's tables again)."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from optuna.storages import _rdb
from sqlalchemy import Connection

_CURRENT: set[str] = set()


@functools.cache
def optuna_head() -> str:
    """The newest revision of Optuna's schema (what ``RDBStorage`` checks a database against)."""
    config = Config()
    config.set_main_option("script_location", str(Path(_rdb.__file__).parent / "alembic"))
    newest = ScriptDirectory.from_config(config).get_current_head()
    assert newest is not None, "Optuna's migrations form one line"
    return newest


def optuna_schema_current(connection: Connection) -> bool:
    """True if Optuna's tables exist at ``optuna_head`` (Optuna stamps its revision after it
    has created them), so neither creating nor checking them would change anything."""
    return MigrationContext.configure(connection).get_current_revision() == optuna_head()


def note_current(url: str) -> None:
    """The database at ``url`` is at the newest schemas, regtune's and Optuna's: migrating found
    or made it so. Schemas only move forward, so it stays so while this process runs."""
    _CURRENT.add(url)


def forget_current(url: str) -> None:
    """The database at ``url`` is found behind (restored from a backup, or another database at
    the same address): its storages create and check Optuna's tables again."""
    _CURRENT.discard(url)


def known_current(url: str) -> bool:
    """Whether ``note_current(url)`` was said in this process."""
    return url in _CURRENT
