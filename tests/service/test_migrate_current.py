"""Every start migrates; on a database already at the newest schema (every start after the
first) that is two version reads, not Optuna's table creation and checks and Alembic's upgrade
(about 80 ms of each API, worker and in-process app start)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from regtune.service.store.db import make_engine
from regtune.service.store.migrate import upgrade


def _statements_of(action: Any) -> list[str]:
    ran: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        ran.append(" ".join(statement.split()))

    event.listen(Engine, "before_cursor_execute", note)
    try:
        action()
    finally:
        event.remove(Engine, "before_cursor_execute", note)
    return ran


@pytest.fixture
def migrated(database_url: str) -> Iterator[str]:
    upgrade(database_url)
    yield database_url


def test_a_database_at_the_newest_schema_is_only_read_for_its_versions(migrated: str) -> None:
    ran = _statements_of(lambda: upgrade(migrated))
    assert ran, "the versions are read"
    others = [s for s in ran if "alembic_version" not in s]
    assert others == [], others


def test_optuna_tables_behind_the_installed_optuna_are_still_refused(migrated: str) -> None:
    # regtune's revision is the newest, Optuna's is not: the check Optuna makes still runs
    engine = make_engine(migrated)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = 'v3.0.0.a'"))
    finally:
        engine.dispose()
    with pytest.raises(RuntimeError, match="optuna storage upgrade"):
        upgrade(migrated)
