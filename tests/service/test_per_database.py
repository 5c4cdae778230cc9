"""The process's engines and storages follow the settings' database, with nothing to forget."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from regtune.service.settings import Settings, use_settings
from regtune.service.store import reads
from regtune.service.store.db import close_database, get_engine, transaction
from regtune.service.store.scheduling.retries import get_storage


def test_each_database_gets_its_own_engine_and_storage_until_closed(tmp_path: Path) -> None:
    first, second = (f"sqlite:///{tmp_path / name}" for name in ("a.db", "b.db"))
    try:
        use_settings(Settings(database_url=first))
        engine, storage = get_engine(), get_storage()
        with transaction() as session:
            session.execute(text("CREATE TABLE here (x INTEGER)"))
        assert get_engine() is engine and get_storage() is storage
        use_settings(Settings(database_url=second))
        assert get_engine() is not engine and str(get_engine().url) == second
        assert str(get_storage().engine.url) == second
        assert str(reads.read_engine().url) == second
        with transaction() as session:  # the second database has no such table
            here = text("SELECT count(*) FROM sqlite_master WHERE name = 'here'")
            assert session.execute(here).scalar() == 0
        assert get_engine(first) is engine  # still the first's, until it is closed
        close_database(first)
        assert get_engine(first) is not engine
    finally:
        use_settings(None)
        close_database()
