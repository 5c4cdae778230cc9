"""``/readyz`` says ready only while the database holds the schema this process serves: a
schema dropped under a running API, or migrated by another regtune version, takes it out of a
load balancer's rotation (it answered 200 while every other request failed)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from regtune.service.store.db import get_engine
from regtune.service.store.migrate import VERSION_TABLE, head
from tests.inprocess import Apps
from tests.pg import BACKENDS, PostgresServer


@pytest.mark.parametrize("backend", BACKENDS)
def test_ready_only_at_the_schema_this_process_serves(
    backend: str, apps: Apps, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        api = apps()
    else:
        server: PostgresServer = request.getfixturevalue("pg")
        api = apps(database_url=server.create_database(f"t_{uuid.uuid4().hex[:12]}"))
    assert api.get("/readyz").json() == {"status": "ok", "database": "up", "detail": None}

    with get_engine().begin() as connection:
        connection.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = 'f00dfeed'"))
    other = api.get("/readyz")
    assert other.status_code == 503, other.text
    assert other.json() == {
        "status": "unavailable",
        "database": "up",
        "detail": f"the database's regtune schema is at revision f00dfeed, where this process "
        f"serves revision {head()}: a regtune of another version migrated it",
    }

    with get_engine().begin() as connection:
        connection.execute(text(f"DROP TABLE {VERSION_TABLE}"))
    dropped = api.get("/readyz")
    assert dropped.status_code == 503, dropped.text
    assert dropped.json()["detail"] == (
        "the database holds no regtune schema (it was dropped): regtune migrate creates it"
    )
    assert api.get("/healthz").status_code == 200  # the process itself is alive


@pytest.mark.parametrize("how", ["deleted", "replaced by another file"])
def test_not_ready_once_the_sqlite_file_it_opened_is_no_longer_at_its_path(
    apps: Apps, how: str
) -> None:
    """Was 200, the pooled connections still reaching the deleted file, while every write went
    to a file no path named, lost when the process stopped."""
    api = apps()
    assert api.get("/readyz").status_code == 200
    path = Apps.database_path(api)
    if how == "deleted":
        path.unlink()
    else:
        path.rename(path.with_suffix(".old"))
        path.write_bytes(path.with_suffix(".old").read_bytes())  # a copy: another inode

    answer = api.get("/readyz")

    assert answer.status_code == 503, answer.text
    assert answer.json() == {
        "status": "unavailable",
        "database": "down",
        "detail": f"the SQLite file {str(path)!r} was {how} while regtune ran: the processes "
        "that opened it go on with that file, which the path no longer names (a deleted one is "
        "lost when they stop), and a process started now would open another database: restart "
        "regtune",
    }


def test_not_ready_while_the_database_is_away_says_why_without_its_address(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PostgreSQL server that refuses connections (stopped, restarting): the detail said only
    "OperationalError", where every other route's 503 says why."""
    from sqlalchemy import create_engine

    from regtune.service.api import health

    api = apps()
    away = create_engine("postgresql+psycopg://regtune:secret@127.0.0.1:9/regtune")
    monkeypatch.setattr(health, "get_engine", lambda: away)  # a port where nothing listens

    answer = api.get("/readyz")

    assert answer.status_code == 503, answer.text
    assert answer.json() == {
        "status": "unavailable",
        "database": "down",
        "detail": "the database: it refuses connections or cannot be reached (down or restarting)",
    }
    away.dispose()


def test_a_refused_login_is_said_without_its_role_or_database(
    apps: Apps, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """``/readyz`` is open to anyone who reaches it: the server's words for a refused login name
    its role and database, so they go to the API's log, and the answer says only that."""
    from sqlalchemy import create_engine

    from regtune.service.api import health

    server: PostgresServer = request.getfixturevalue("pg")
    api = apps()
    refusing = create_engine(server.url("no_such_database_of_regtune"))
    monkeypatch.setattr(health, "get_engine", lambda: refusing)

    answer = api.get("/readyz")

    assert answer.status_code == 503, answer.text
    assert answer.json()["detail"] == (
        "the database: it refused this process's login (the API's log says why)"
    )
    assert "no_such_database_of_regtune" not in answer.text
    refusing.dispose()


def test_the_access_log_reads_a_trial_number_as_the_route_does() -> None:
    """``\\d`` took an Arabic-Indic ``٣`` for trial 3 in the log's context, where the route
    answers 422 (it takes ASCII digits)."""
    from regtune.service.api.observability import _STUDY_PATH

    arabic = _STUDY_PATH.match("/v1/studies/s1/trials/\u0663")
    assert arabic is not None and arabic.group(2) is None
    ascii_ = _STUDY_PATH.match("/v1/studies/s1/trials/3")
    assert ascii_ is not None and ascii_.group(2) == "3"
