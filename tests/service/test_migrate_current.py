"""Every start migrates; on a database already at the newest schema (every start after the
first) that is two version reads, not Optuna's table creation and checks and Alembic's upgrade
(about 80 ms of each API, worker and in-process app start), and the process's Optuna storage
of that database then skips them too (about 100 ms more)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from optuna.storages._rdb import models
from sqlalchemy import text

from regtune.service.store.db import make_engine
from regtune.service.store.migrate import upgrade
from regtune.service.store.optuna_db.storage import make_storage
from regtune.service.store.tables import Base
from tests.support import sql_run

TABLES = {
    table.name for table in (*models.BaseModel.metadata.sorted_tables, *Base.metadata.sorted_tables)
} - {"version_info"}
"""The tables a start might create, check or read, but for the version rows' own."""


def _tables_touched(action: Any) -> list[str]:
    """The statements of ``action`` that name one of ``TABLES``, in their text or parameters
    (SQLite's ``PRAGMA table_info("studies")``, PostgreSQL's catalog lookup of ``studies``)."""
    named = re.compile(rf"\b({'|'.join(map(re.escape, TABLES))})\b")
    with sql_run(parameters=True) as ran:
        action()
    return [said for said in ran if named.search(said)]


@pytest.fixture
def migrated(database_url: str) -> Iterator[str]:
    upgrade(database_url)
    yield database_url


def test_a_database_at_the_newest_schema_is_only_read_for_its_versions(migrated: str) -> None:
    assert _tables_touched(lambda: upgrade(migrated)) == []


def test_a_storage_of_a_database_this_process_migrated_neither_creates_nor_checks(
    migrated: str, tmp_path: Path
) -> None:
    made: list[Any] = []
    assert _tables_touched(lambda: made.append(make_storage(migrated))) == []
    made[0].engine.dispose()
    # one this process has not migrated is created and checked as Optuna does
    elsewhere = f"sqlite:///{tmp_path / 'not-migrated-here.db'}"
    made.clear()
    assert any(
        "CREATE TABLE" in s for s in _tables_touched(lambda: made.append(make_storage(elsewhere)))
    )
    made[0].engine.dispose()


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
