"""A role that may read and write regtune's tables but not create in the schema (the usual
least-privilege role on a managed PostgreSQL, the migration left to a job run as the owner):
where the schema needs a change, every part refuses in one line saying what to run (a worker of
a newer version on an older database used to die with 500 lines of tracebacks); where it is at
the newest revision, the role runs as any other."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text

from regtune.service.errors import SchemaChangeRefused
from regtune.service.store.db import make_engine
from regtune.service.store.migrate import VERSION_TABLE, alembic_config, head, upgrade
from tests.pg import PostgresServer
from tests.support import Processes, process_env, regtune


def _previous() -> str:
    revision = ScriptDirectory.from_config(alembic_config()).get_revision(head())
    assert revision is not None and isinstance(revision.down_revision, str)
    return revision.down_revision


def _downgrade(url: str, revision: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
    finally:
        engine.dispose()


def _app_role(pg: PostgresServer, database: str) -> str:
    """A role with every right on the tables and none to create in the schema; its URL."""
    role = f"app_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(
        f"host=127.0.0.1 port={pg.port} user=postgres dbname={database}", autocommit=True
    ) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        conn.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        conn.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
        )
        conn.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role}")
    return f"postgresql+psycopg://{role}@127.0.0.1:{pg.port}/{database}"


def _older_database(pg: PostgresServer) -> tuple[str, str]:
    """A database the owner migrated to the revision before the newest; the owner's URL and
    the app role's."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    owner = pg.create_database(database)
    upgrade(owner)
    _downgrade(owner, _previous())
    return owner, _app_role(pg, database)


def _revision(url: str) -> str:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return str(connection.scalar(text(f"SELECT version_num FROM {VERSION_TABLE}")))
    finally:
        engine.dispose()


def test_a_role_that_may_not_change_the_schema_is_told_what_to_run(pg: PostgresServer) -> None:
    owner, app = _older_database(pg)

    with pytest.raises(SchemaChangeRefused) as refused:
        upgrade(app)

    message = str(refused.value)
    assert f"at revision {_previous()} and this regtune needs revision {head()}" in message
    # the database's own words: a new object refused, or a change of a table it does not own
    assert "permission denied" in message or "must be owner of table" in message, message
    assert "Run `regtune migrate` once as a role that may create tables" in message
    assert _revision(owner) == _previous()  # nothing half-changed
    upgrade(owner)  # the owner's migration, as the message says
    upgrade(app)  # then the role starts as any other: nothing left to change
    assert _revision(app) == head()


def test_an_empty_database_says_it_has_no_schema_yet(pg: PostgresServer) -> None:
    database = f"t_{uuid.uuid4().hex[:12]}"
    pg.create_database(database)
    app = _app_role(pg, database)

    with pytest.raises(SchemaChangeRefused) as refused:
        upgrade(app)

    assert f"has no regtune schema yet and this regtune needs revision {head()}" in str(
        refused.value
    )


@pytest.mark.parametrize("part", ["migrate", "worker"])
def test_the_parts_refuse_in_one_line(pg: PostgresServer, processes: Processes, part: str) -> None:
    _, app = _older_database(pg)

    result = processes.run(regtune(part), env=process_env(app), timeout=180)

    assert result.returncode == 2, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr[-3000:]
    assert f"revision {_previous()} and this regtune needs revision {head()}" in errors[0]
    assert "Traceback" not in result.stderr
