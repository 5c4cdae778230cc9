"""Create and upgrade the database: Optuna's tables (through Optuna), then regtune's (Alembic)."""

from __future__ import annotations

import functools
import logging
from importlib.metadata import version
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, Table, inspect
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random

from regtune.service.database_url import hide_password
from regtune.service.errors import (
    FieldProblem,
    InvalidSettings,
    LoginRefused,
    SchemaChangeRefused,
    SchemaTooNew,
)
from regtune.service.store.backoff import error_chain, refused_login
from regtune.service.store.db import make_engine, require_writable_sqlite
from regtune.service.store.optuna_db.internals.handles import om
from regtune.service.store.optuna_db.internals.versions import (
    forget_current,
    note_current,
    optuna_schema_current,
    unknown_optuna_revision,
)
from regtune.service.store.optuna_db.storage import make_storage
from regtune.service.store.tables import Base

VERSION_TABLE = "regtune_alembic_version"
"""Optuna keeps its own ``alembic_version`` table in the same database; ours must not collide."""

log = logging.getLogger(__name__)


RACES = (IntegrityError, OperationalError, ProgrammingError)
"""What one process creating the schema meets when another creates it at the same moment: a
version row the other just stamped (``IntegrityError``), a table it just made (SQLite's
``OperationalError`` "already exists", PostgreSQL's ``ProgrammingError`` ``DuplicateTable`` or
an ``IntegrityError`` on a catalog index). The next try finds them made and goes on."""
ATTEMPTS = 5
INSUFFICIENT_PRIVILEGE = "42501"
"""PostgreSQL's SQLSTATE for a statement the role has no right to run (``CREATE`` in a schema
it may not create in): no retry makes it pass."""


def upgrade(url: str) -> None:
    """Bring the database at ``url`` to the newest schema. Safe to run from several processes
    at once (``RACES`` are tried again, ``ATTEMPTS`` times in all: a database that is down
    stays the caller's to wait for; a refused login is ``LoginRefused``, no outage to wait for,
    and a SQLite file that cannot be written is ``InvalidSettings``, before anything starts)."""
    require_writable_sqlite(url)
    for attempt in Retrying(
        retry=retry_if_exception_type(RACES),
        stop=stop_after_attempt(ATTEMPTS),
        wait=wait_random(0.05, 0.5),
        reraise=True,
    ):
        with attempt:
            _upgrade(url)
    log.info("database is at the newest schema")


def alembic_config() -> Config:
    """Alembic's configuration for regtune's migrations (a connection goes in its attributes)."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    """regtune's migrations, read once a process (they do not change under it)."""
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The newest schema revision this code knows."""
    newest = _scripts().get_current_head()
    assert newest is not None, "the migrations form one line"
    return newest


def refuse_unknown(heads: tuple[str, ...], connection: Connection) -> None:
    """Raise ``SchemaTooNew`` if the database is at a revision (``schema_heads``) this code has no
    migration for (a newer regtune upgraded it), or its Optuna tables (read on ``connection``)
    at one the installed Optuna has none for (a newer regtune's Optuna upgraded them; Optuna's
    own check said it in a traceback that blamed the Optuna that made them): nothing is read
    or written as if it were ours."""
    known = {script.revision for script in _scripts().walk_revisions()}
    unknown = sorted(set(heads) - known)
    if unknown:
        raise SchemaTooNew(
            f"the database's schema is at revision {', '.join(unknown)}, which this regtune "
            f"does not know (its newest is {head()}): a newer regtune upgraded it. Run that "
            "version or a newer one against this database (every API, worker and migrate job)"
        )
    optuna = unknown_optuna_revision(connection)
    if optuna is not None:
        raise SchemaTooNew(
            f"the database's Optuna tables are at revision {optuna}, which the installed Optuna "
            f"{version('optuna')} does not know: a newer Optuna, installed with a newer regtune, "
            "upgraded them. Run that regtune or a newer one against this database (every API, "
            "worker and migrate job)"
        )


def refuse_foreign(connection: Connection, url: str) -> None:
    """``InvalidSettings`` if the database holds a table named as one of Optuna's or regtune's
    that lacks a column that table is keyed by: another application's database, whose table
    Optuna and Alembic would leave as it is beside theirs, to fail every request after."""
    inspector = inspect(connection)
    present = set(inspector.get_table_names())
    owned = [(table, "Optuna's") for table in om.BaseModel.metadata.sorted_tables]
    owned += [(table, "regtune's") for table in Base.metadata.sorted_tables]
    for table, whose in owned:
        if table.name not in present:
            continue
        columns = {column["name"] for column in inspector.get_columns(table.name)}
        missing = [name for name in _key_columns(table) if name not in columns]
        if missing:
            raise InvalidSettings(
                "REGTUNE_DATABASE_URL names another application's database",
                fields=[
                    FieldProblem(
                        path="REGTUNE_DATABASE_URL",
                        rule=f"the database holds a table named {table.name!r} that is not "
                        f"{whose} (it has no column {', '.join(missing)}), so it is another "
                        "application's database: point REGTUNE_DATABASE_URL at a new one (a file "
                        "that does not exist yet, an empty PostgreSQL database) or at regtune's "
                        f"own, got {hide_password(url)!r}",
                    )
                ],
            )


def _key_columns(table: Table) -> list[str]:
    """The columns ``table`` is keyed by: its primary key, its foreign keys and its unique
    columns, which every revision of Optuna's and regtune's schemas has had since the table was
    made (a later revision adds other columns, which an older database lacks)."""
    return [
        column.name
        for column in table.columns
        if column.primary_key or column.foreign_keys or column.unique
    ]


def _upgrade(url: str) -> None:
    engine = make_engine(url)
    try:
        try:
            connection = engine.connect()
        except OperationalError as exc:
            refusal = refused_login(exc, url)
            if refusal is None:
                raise
            raise LoginRefused(refusal) from exc
        with connection:
            heads = schema_heads(connection)
            refuse_unknown(heads, connection)  # before Optuna's tables are touched too
            found = ", ".join(heads) or None
            current = found == head() and optuna_schema_current(connection)
            if not current:  # about to create tables: none of their names may be taken
                refuse_foreign(connection, url)
        if not current:  # a new database, or one an older regtune or Optuna made
            forget_current(url)
            try:
                _change_schema(url, engine)
            except ProgrammingError as exc:
                refused = _refused_privilege(exc)
                if refused is None:
                    raise
                raise SchemaChangeRefused(_refusal(found, engine.url.username, refused)) from exc
            log.info(  # the record an operator's upgrade job leaves of what it changed
                "%s to revision %s (Optuna's tables to its installed %s)",
                f"upgraded the schema from revision {found}" if found else "created the schema",
                head(),
                version("optuna"),
            )
        note_current(url)
    finally:
        engine.dispose()


def schema_heads(connection: Connection) -> tuple[str, ...]:
    """The schema revisions the database is at (none: no regtune schema, yet or any more)."""
    return tuple(
        MigrationContext.configure(
            connection, opts={"version_table": VERSION_TABLE}
        ).get_current_heads()
    )


def _refused_privilege(exc: BaseException) -> str | None:
    """The database's words if ``exc`` is a refused privilege (SQLSTATE 42501), else None."""
    for error in error_chain(exc):
        if getattr(error, "sqlstate", None) == INSUFFICIENT_PRIVILEGE:
            return str(error).strip().splitlines()[0]
    return None


def _refusal(found: str | None, role: str | None, words: str) -> str:
    where = (
        f"the database's schema is at revision {found}"
        if found
        else "the database has no regtune schema yet"
    )
    return (
        f"{where} and this regtune needs revision {head()}, but the database refused role "
        f"{role or '(default)'!r} the change ({words}). Run `regtune migrate` once as a role that "
        "may create tables in the schema (its owner), then start this again"
    )


def _change_schema(url: str, engine: Engine) -> None:
    """Optuna's tables through Optuna, then regtune's through Alembic."""
    storage = make_storage(url)  # creates or upgrades Optuna's tables, which ours index
    storage.remove_session()
    storage.engine.dispose()  # else its connections stay open until a garbage collection
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
