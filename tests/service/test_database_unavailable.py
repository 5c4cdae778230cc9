"""A database that refuses connections is a 503 with ``Retry-After`` and a message naming the
cause, never a 500 (issue 22, item 13: 32 workers exhausted a default PostgreSQL and ``POST
/v1/studies`` answered a plain 500); a worker says at start how many connections it may hold."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from regtune.service.api.app import create_app
from regtune.service.settings import Settings, use_settings
from regtune.service.spec.definition import EXAMPLE
from regtune.service.store.backoff import unavailable_cause
from regtune.service.store.db import make_engine
from regtune.service.store.migrate import upgrade
from regtune.worker.loop import Worker
from tests.inprocess import reset_process_state
from tests.pg import PostgresServer
from tests.support import free_port


def definition() -> dict[str, object]:
    body = copy.deepcopy(EXAMPLE)
    body["name"] = "refused"
    return body


def assert_503(response: object, cause: str) -> None:
    assert response.status_code == 503, response.text  # type: ignore[attr-defined]
    assert response.headers["Retry-After"].isdigit()  # type: ignore[attr-defined]
    error = response.json()["error"]  # type: ignore[attr-defined]
    assert error["code"] == "database_unavailable"
    assert cause in error["message"]
    assert "127.0.0.1" not in error["message"]  # the database's address stays out


def app_on(url: str, tmp_path: Path) -> Iterator[TestClient]:
    """The app on ``url`` without its lifespan (which would wait for the database to migrate)."""
    reset_process_state()
    try:
        yield TestClient(
            create_app(Settings(database_url=url, artifact_dir=tmp_path / "artifacts")),
            raise_server_exceptions=False,
        )
    finally:
        use_settings(None)
        reset_process_state()


@pytest.fixture
def down(tmp_path: Path) -> Iterator[TestClient]:
    yield from app_on(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/regtune", tmp_path)


def test_a_database_that_is_down_gives_503_not_500(down: TestClient) -> None:
    assert_503(down.post("/v1/studies", json=definition()), "refuses connections")
    assert_503(down.get("/v1/studies"), "refuses connections")


@pytest.fixture
def full(pg: PostgresServer, pg_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """A PostgreSQL that turns regtune's connections away for their number (a role allowed
    none), as a server at max_connections does."""
    upgrade(pg_url)
    admin = make_engine(pg_url)
    with admin.begin() as connection:
        connection.execute(text("DROP ROLE IF EXISTS crowded"))
        connection.execute(text("CREATE ROLE crowded LOGIN CONNECTION LIMIT 0"))
    admin.dispose()
    yield from app_on(pg_url.replace("postgres@", "crowded@", 1), tmp_path)


def test_too_many_clients_gives_503_naming_the_cause(full: TestClient) -> None:
    assert_503(full.post("/v1/studies", json=definition()), "too many clients")


def test_a_worker_says_how_many_connections_it_may_hold() -> None:
    url = "postgresql+psycopg://u@db/regtune"
    said = Worker(Settings(database_url=url, db_pool_size=2, db_max_overflow=1)).connections()
    assert "up to 3 database connections" in said
    assert "N × 3 of max_connections" in said
    assert "no database server" in Worker(Settings(database_url="sqlite:///x.db")).connections()


@pytest.mark.parametrize(
    ("pragma", "cause"),
    [
        ("PRAGMA max_page_count = 1", "its disk is full"),
        ("PRAGMA query_only = 1", "it cannot be written"),  # SQLite's words for a read-only file
    ],
    ids=["full", "read-only"],
)
def test_a_database_that_cannot_take_a_write_says_why(
    tmp_path: Path, pragma: str, cause: str
) -> None:
    """A full disk was "it is unavailable (OperationalError)", as if the database were down,
    and the sweep retried "until the database answers" while it answered every read; only the
    server's log said "database or disk is full". SQLite's own refusal of a write past its
    pages is the one a full disk gives, and its refusal under ``query_only`` a read-only file's."""
    engine = make_engine(f"sqlite:///{tmp_path / 'small.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x TEXT)"))
    with pytest.raises(OperationalError) as refused, engine.begin() as connection:
        connection.execute(text(pragma))
        connection.execute(text("INSERT INTO t VALUES (:x)"), [{"x": "x" * 4096}] * 4)
    said = unavailable_cause(refused.value)
    assert said.startswith(cause), said
    engine.dispose()
