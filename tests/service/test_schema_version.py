"""A database a newer regtune upgraded: every part refuses it in one line naming both revisions
(an older API or worker restarted during a rolling upgrade used to die with alembic's
"Can't locate revision" under a traceback of 350 lines)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from sqlalchemy import text

from regtune.service.errors import SchemaTooNew
from regtune.service.store.db import make_engine
from regtune.service.store.migrate import VERSION_TABLE, head, upgrade
from tests.support import Processes, free_port, process_env, regtune

NEWER = "9001"
"""A revision no migration of this code names: what a newer regtune's migration stamps."""


def _upgraded_by_a_newer_regtune(url: str, table: str = VERSION_TABLE) -> None:
    """``table``: regtune's version table, or Optuna's (``alembic_version``: a newer Optuna)."""
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"UPDATE {table} SET version_num = '{NEWER}'"))
    finally:
        engine.dispose()


def test_upgrade_refuses_a_schema_newer_than_its_migrations(database_url: str) -> None:
    _upgraded_by_a_newer_regtune(database_url)
    with pytest.raises(SchemaTooNew) as refused:
        upgrade(database_url)
    assert f"revision {NEWER}" in str(refused.value)
    assert f"its newest is {head()}" in str(refused.value)
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            found = connection.scalar(text(f"SELECT version_num FROM {VERSION_TABLE}"))
    finally:
        engine.dispose()
    assert found == NEWER  # left as the newer regtune stamped it


def _refusal(tmp_path: Path, processes: Processes, command: str, table: str) -> list[str]:
    """The ``error:`` lines of ``regtune COMMAND`` on a database ``table`` says a newer
    version upgraded, after checking it exited with status 2 and no traceback."""
    url = f"sqlite:///{tmp_path / 'regtune.db'}"
    _upgraded_by_a_newer_regtune(url, table=table)
    port = ["--port", str(free_port())] if command == "api" else []
    result = processes.run(regtune(command, *port), env=process_env(url), timeout=120)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize("command", ["migrate", "worker"])
def test_the_parts_refuse_it_in_one_line(
    tmp_path: Path, processes: Processes, command: str
) -> None:
    assert _refusal(tmp_path, processes, command, VERSION_TABLE) == [
        f"error: the database's schema is at revision {NEWER}, which this regtune does not "
        f"know (its newest is {head()}): a newer regtune upgraded it. Run that version or a "
        "newer one against this database (every API, worker and migrate job)"
    ]


@pytest.mark.parametrize("command", ["migrate", "worker", "api"])
def test_optuna_tables_a_newer_optuna_upgraded_are_refused_in_one_line(
    tmp_path: Path, processes: Processes, command: str
) -> None:
    """Was a traceback of 167-277 lines ending in Optuna's "no longer compatible with the table
    schema (set up by optuna 5.0.0)", the installed version named as the one that made them."""
    assert _refusal(tmp_path, processes, command, "alembic_version") == [
        f"error: the database's Optuna tables are at revision {NEWER}, which the installed "
        f"Optuna {optuna.__version__} does not know: a newer Optuna, installed with a newer "
        "regtune, upgraded them. Run that regtune or a newer one against this database (every "
        "API, worker and migrate job)"
    ]
