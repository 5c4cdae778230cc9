"""/metrics' database-backed families: registering them reads nothing, and what they declare
is what a scrape yields."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from regtune.service.api import observability
from regtune.service.api.prometheus import DatabaseCollector
from regtune.service.settings import Settings, use_settings
from tests.inprocess import copy_database, reset_process_state
from tests.support import sql_run


@pytest.fixture
def statements(tmp_path: Path, migrated_db: Path) -> Iterator[list[str]]:
    """The SQL every engine of this process runs, on a fresh copy of the migrated database."""
    path = tmp_path / "regtune.db"
    copy_database(migrated_db, path)
    reset_process_state()
    use_settings(Settings(database_url=f"sqlite:///{path}", artifact_dir=tmp_path / "a"))
    try:
        with sql_run() as ran:
            yield ran
    finally:
        use_settings(None)
        reset_process_state()


def test_registering_the_metrics_reads_no_database(statements: list[str]) -> None:
    # the registry asks a collector for its names when it is registered; a collector that
    # cannot describe itself is collected for them, folding in every trial of the database
    made = observability._Registry()
    assert statements == []
    assert any(m.name == "regtune_trials" for m in made.collect())
    assert statements, "a scrape reads the database"


def test_the_declared_families_are_the_scraped_ones(statements: list[str]) -> None:
    collector = DatabaseCollector()

    def shape(metrics: Any) -> list[tuple[str, str, str]]:
        return [(m.name, m.type, m.documentation) for m in metrics]

    assert shape(collector.describe()) == shape(collector.collect())
