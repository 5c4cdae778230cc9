"""Alembic environment for regtune's own tables (Optuna migrates its tables itself)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from regtune.service.store.migrate import VERSION_TABLE
from regtune.service.store.tables import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        include_name=lambda name, type_, _parent: (
            type_ != "table" or (name or "").startswith("regtune_")
        ),
    )
    with context.begin_transaction():
        context.run_migrations()


_run(context.config.attributes["connection"])
