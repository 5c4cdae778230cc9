"""``upgrade`` from several processes at once on a new database: each one ends at the newest
schema (``regtune api --workers N`` and a pool's first workers all migrate as they start)."""

from __future__ import annotations

import multiprocessing
import uuid
from multiprocessing.connection import Connection
from pathlib import Path

import pytest
from sqlalchemy import inspect

from regtune.service.store.db import make_engine
from regtune.service.store.migrate import upgrade
from tests.conftest import BACKENDS
from tests.pg import PostgresServer

PROCESSES = 6
ROUNDS = 3
"""New databases per backend: the race is in the first creation, and is not won every time."""


def _upgrade_at_once(url: str, start: Connection) -> None:
    start.recv()  # every process imported and waiting: the go
    upgrade(url)


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
        pipes = [spawn.Pipe() for _ in range(PROCESSES)]
        procs = [spawn.Process(target=_upgrade_at_once, args=(url, child)) for _, child in pipes]
        for proc in procs:
            proc.start()
        for parent, _ in pipes:
            parent.send("go")
        for proc in procs:
            proc.join(120)
        assert [proc.exitcode for proc in procs] == [0] * PROCESSES, f"round {round_}"
        engine = make_engine(url)
        try:
            tables = set(inspect(engine).get_table_names())
        finally:
            engine.dispose()
        assert {"trials", "regtune_studies", "regtune_claims"} <= tables
