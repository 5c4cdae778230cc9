"""``upgrade`` from several processes at once on a new database, or on one an older regtune
wrote: each one ends at the newest schema (``regtune api --workers N`` and a pool's first
workers all migrate as they start, the API and the workers of an upgrade too)."""

from __future__ import annotations

import multiprocessing
import uuid
from multiprocessing.connection import Connection
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from regtune.service.store.db import make_engine
from regtune.service.store.migrate import alembic_config, head, upgrade
from regtune.service.store.optuna_db.storage import make_storage
from tests.conftest import BACKENDS
from tests.pg import PostgresServer

PROCESSES = 6
ROUNDS = 3
"""New databases per backend: the race is in the first creation, and is not won every time."""


def _upgrade_at_once(url: str, start: Connection) -> None:
    start.recv()  # every process imported and waiting: the go
    upgrade(url)


def _exit_codes_upgrading_at_once(
    url: str, spawn: multiprocessing.context.SpawnContext
) -> list[int | None]:
    """``PROCESSES`` processes, started, then told to upgrade ``url`` at the same moment."""
    pipes = [spawn.Pipe() for _ in range(PROCESSES)]
    procs = [spawn.Process(target=_upgrade_at_once, args=(url, child)) for _, child in pipes]
    for proc in procs:
        proc.start()
    for parent, _ in pipes:
        parent.send("go")
    for proc in procs:
        proc.join(120)
    return [proc.exitcode for proc in procs]


@pytest.mark.parametrize("backend", BACKENDS)
def test_processes_migrating_a_new_database_at_once_all_succeed(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    spawn: multiprocessing.context.SpawnContext,
) -> None:
    for round_ in range(ROUNDS):
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / f'race-{round_}.db'}"
        else:
            server: PostgresServer = request.getfixturevalue("pg")
            url = server.create_database(f"t_{uuid.uuid4().hex[:12]}")
        assert _exit_codes_upgrading_at_once(url, spawn) == [0] * PROCESSES, f"round {round_}"
        engine = make_engine(url)
        try:
            tables = set(inspect(engine).get_table_names())
        finally:
            engine.dispose()
        assert {"trials", "regtune_studies", "regtune_claims"} <= tables


OLD_STUDY = """
INSERT INTO regtune_studies (id, tenant, name, optuna_name, spec, status, n_trials,
    max_parallel, n_running, n_done, max_retries, n_claims, n_errors, created_at, updated_at)
VALUES ('0123456789abcdef', 'default', 'old', 'old [0123456789abcdef]', '{}', 'running', 9,
    2, 1, 3, 2, 4, 0, '2026-11-30 12:00:00', '2026-11-30 12:00:00')
"""
"""A study in flight as the code of revision 0002 wrote it (no ``n_reserved`` yet)."""


def _written_at_revision_0002(url: str) -> None:
    storage = make_storage(url)
    storage.remove_session()
    storage.engine.dispose()
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "0002")
            connection.execute(text(OLD_STUDY))
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_processes_upgrading_an_old_database_at_once_all_succeed(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    spawn: multiprocessing.context.SpawnContext,
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("pg")
        url = server.create_database(f"t_{uuid.uuid4().hex[:12]}")
    _written_at_revision_0002(url)
    assert _exit_codes_upgrading_at_once(url, spawn) == [0] * PROCESSES
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            version = connection.scalar(text("SELECT version_num FROM regtune_alembic_version"))
            study = connection.execute(
                text("SELECT n_trials, n_running, n_done, n_reserved FROM regtune_studies")
            ).all()
    finally:
        engine.dispose()
    assert version == head()
    assert [tuple(row) for row in study] == [(9, 1, 3, 0)]  # the old row, with no reservation
