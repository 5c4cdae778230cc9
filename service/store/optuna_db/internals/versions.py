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
def _optuna_scripts() -> ScriptDirectory:
    """The migrations of Optuna's schema the installed Optuna ships, read once a process."""
    config = Config()
    config.set_main_option("script_location", str(Path(_rdb.__file__).parent / "alembic"))
    return ScriptDirectory.from_config(config)


def optuna_head() -> str:
    """The newest revision of Optuna's schema (what ``RDBStorage`` checks a database against)."""
    newest = _optuna_scripts().get_current_head()
    assert newest is not None, "Optuna's migrations form one line"
    return newest


def unknown_optuna_revision(connection: Connection) -> str | None:
    """The revision of the database's Optuna tables if the installed Optuna has no migration
    for it (a newer Optuna made them), else None."""
    found = MigrationContext.configure(connection).get_current_revision()
    known = {script.revision for script in _optuna_scripts().walk_revisions()}
    return found if found is not None and found not in known else None


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
