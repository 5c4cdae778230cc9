"""Fixtures: a real PostgreSQL for the session, a database URL per backend, a process stack."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg import PostgresServer, postgres_server
from tests.support import Stack

BACKENDS = ["sqlite", "postgresql"]
E2E_DIRS = ("tests/e2e/", "tests/bench/", "tests/test_compose.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tiers: ``e2e`` by folder, ``postgresql`` by the fixtures a test asks for."""
    for item in items:
        path = item.nodeid
        if path.startswith(E2E_DIRS):
            item.add_marker(pytest.mark.e2e)
        names = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("database_url") if callspec else None
        if names & {"pg", "pg_url"} or backend == "postgresql" or "postgresql" in path:
            item.add_marker(pytest.mark.postgresql)


@pytest.fixture(scope="session")
def pg() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


def make_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'regtune.db'}"
    server: PostgresServer = request.getfixturevalue("pg")
    return server.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each backend."""
    return make_url(request.param, tmp_path, request)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'regtune.db'}"


@pytest.fixture
def pg_url(pg: PostgresServer) -> str:
    return pg.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def stack_factory(tmp_path: Path) -> Iterator[type[Stack]]:
    stacks: list[Stack] = []

    class _Stack(Stack):
        def __init__(self, database_url: str, **env: str) -> None:
            super().__init__(database_url, tmp_path, **env)
            stacks.append(self)

    yield _Stack
    for stack in stacks:
        stack.stop()
