"""Another application's database, holding a table named as one of Optuna's or regtune's: the
migration refuses it before it creates anything (was: ``migrate`` said it created the schema,
the foreign ``studies`` left as it was, and every request after was a 503 for its missing
``study_name``)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from sqlalchemy import inspect, text

from regtune.service.database_url import hide_password
from regtune.service.errors import InvalidSettings
from regtune.service.store.db import make_engine
from regtune.service.store.migrate import upgrade
from tests.support import Processes, free_port, process_env, regtune

FOREIGN = [
    ("studies", "Optuna's", "study_id, study_name"),
    ("regtune_workers", "regtune's", "id"),
]


def _another_applications(url: str, table: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"CREATE TABLE {table} (x INTEGER)"))
            connection.execute(text(f"INSERT INTO {table} VALUES (1)"))
    finally:
        engine.dispose()


def _contents(url: str) -> tuple[list[str], dict[str, list[int]]]:
    """The database's tables, and the rows of each holding an ``x`` column."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            tables = sorted(inspect(connection).get_table_names())
            rows = {
                table: list(connection.scalars(text(f"SELECT x FROM {table}")))
                for table in tables
                if "x" in {c["name"] for c in inspect(connection).get_columns(table)}
            }
    finally:
        engine.dispose()
    return tables, rows


def _refusal(table: str, whose: str, missing: str, url: str) -> str:
    return (
        f"REGTUNE_DATABASE_URL: the database holds a table named {table!r} that is not {whose} "
        f"(it has no column {missing}), so it is another application's database: point "
        "REGTUNE_DATABASE_URL at a new one (a file that does not exist yet, an empty PostgreSQL "
        f"database) or at regtune's own, got {url!r}"
    )


@pytest.mark.parametrize(("table", "whose", "missing"), FOREIGN, ids=[t for t, _, _ in FOREIGN])
def test_a_table_of_another_application_is_refused_before_anything_is_created(
    database_url: str, table: str, whose: str, missing: str
) -> None:
    _another_applications(database_url, table)

    with pytest.raises(InvalidSettings) as refused:
        upgrade(database_url)

    (problem,) = refused.value.fields
    shown = hide_password(database_url)
    assert f"{problem.path}: {problem.rule}" == _refusal(table, whose, missing, shown)
    assert _contents(database_url) == ([table], {table: [1]})  # nothing made beside it


def test_an_optuna_database_gets_regtune_s_tables_beside_its_studies(database_url: str) -> None:
    """Optuna's own tables, made by Optuna with a study of its own, are Optuna's: not refused."""
    optuna.create_study(study_name="optuna's own", storage=database_url)

    upgrade(database_url)

    assert optuna.load_study(study_name="optuna's own", storage=database_url).trials == []
    tables, _ = _contents(database_url)
    assert {"studies", "trials", "regtune_studies", "regtune_workers"} <= set(tables)


@pytest.mark.parametrize("command", ["migrate", "api", "serve"])
def test_the_parts_that_migrate_refuse_it_in_one_line(
    tmp_path: Path, processes: Processes, command: str
) -> None:
    database = tmp_path / "other.db"
    url = f"sqlite:///{database}"
    _another_applications(url, "studies")
    options = {"serve": ["--workers", "0"]}.get(command, [])
    if command in ("api", "serve"):
        options += ["--port", str(free_port())]

    result = processes.run(regtune(command, *options), env=process_env(url), timeout=120)

    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: " + _refusal("studies", "Optuna's", "study_id, study_name", url)
    ], result.stderr
    assert _contents(url) == (["studies"], {"studies": [1]})
