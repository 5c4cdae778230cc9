"""``upgrade`` from several processes at once on a new database, or on one an older regtune
wrote: each one ends at the newest schema (``regtune api --workers N`` and a pool's first
workers all migrate as they start, the API and the workers of an upgrade too)."""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from regtune.service.store.db import make_engine
from regtune.service.store.migrate import alembic_config, head, upgrade
from regtune.service.store.optuna_db.storage import make_storage
from tests.pg import BACKENDS, PostgresServer

PROCESSES = 6
ROUNDS = 3
"""New databases per backend: the race is in the first creation, and is not won every time."""


def _upgrade_each_when_told(start: Connection) -> None:
    """Upgrade each URL sent, once every process has it (the go), and answer "ok" or what was
    raised; an empty URL ends the process."""
    while url := start.recv():
        try:
            upgrade(url)
        except BaseException as exc:  # the test shows it
            start.send(f"{type(exc).__name__}: {exc}")
        else:
            start.send("ok")


class Racers:
    """``PROCESSES`` processes started once, each upgrading the database it is sent the moment
    all have it: one start per process, not per round (a start imports the store, seconds)."""

    def __init__(self, spawn: multiprocessing.context.SpawnContext) -> None:
        self.pipes = [spawn.Pipe() for _ in range(PROCESSES)]
        self.procs = [
            spawn.Process(target=_upgrade_each_when_told, args=(child,)) for _, child in self.pipes
        ]
        for proc in self.procs:
            proc.start()

    def upgrade_at_once(self, url: str) -> list[str]:
        """Each process's answer for ``url``, sent to all of them at the same moment."""
        for parent, _ in self.pipes:
            parent.send(url)
        return [parent.recv() if parent.poll(120) else "no answer" for parent, _ in self.pipes]

    def close(self) -> list[int | None]:
        for parent, _ in self.pipes:
            parent.send("")
        for proc in self.procs:
            proc.join(120)
        return [proc.exitcode for proc in self.procs]


@pytest.fixture
def racers(spawn: multiprocessing.context.SpawnContext) -> Iterator[Racers]:
    started = Racers(spawn)
    yield started
    assert started.close() == [0] * PROCESSES


@pytest.mark.parametrize("backend", BACKENDS)
def test_processes_migrating_a_new_database_at_once_all_succeed(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    racers: Racers,
) -> None:
    for round_ in range(ROUNDS):
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / f'race-{round_}.db'}"
        else:
            server: PostgresServer = request.getfixturevalue("pg")
            url = server.create_database(f"t_{uuid.uuid4().hex[:12]}")
        assert racers.upgrade_at_once(url) == ["ok"] * PROCESSES, f"round {round_}"
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
    racers: Racers,
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("pg")
        url = server.create_database(f"t_{uuid.uuid4().hex[:12]}")
    _written_at_revision_0002(url)
    assert racers.upgrade_at_once(url) == ["ok"] * PROCESSES
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
