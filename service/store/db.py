"""Engines and the one transaction helper shared by the API and the workers."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Integer, Result, any_, bindparam, create_engine, event
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, sessionmaker

from regtune.service.settings import Settings, get_settings


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL + busy timeout + synchronous=NORMAL on every SQLite connection in the process.

    Listening on the Engine class covers Optuna's own engine too, so the API, the dashboard and
    several workers can share one file without "database is locked".
    """
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    timeout_ms = get_settings().sqlite_busy_timeout_ms
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {int(timeout_ms)}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


APPLICATION_NAME = "regtune"
"""How regtune's connections show in ``pg_stat_activity.application_name``."""


def engine_kwargs(url: str) -> dict[str, Any]:
    """Connection options for any engine on ``url`` (ours and Optuna's): a small bounded pool.

    A process has two engines, regtune's and Optuna's RDBStorage, so it holds at most
    ``2 × (db_pool_size + db_max_overflow)`` connections: 4 with the defaults (2 + 0). A worker
    needs exactly that — its main thread and one heartbeat thread per engine — and 16 workers,
    the API and the dashboard hold at most 72 of PostgreSQL's default ``max_connections`` = 100.
    ``pool_pre_ping`` replaces connections a database restart killed before they are used.
    """
    settings = get_settings()
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": settings.sqlite_busy_timeout_ms / 1000}}
    return {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": 30,
        "pool_pre_ping": True,
        "pool_recycle": 1800,
        "connect_args": {"connect_timeout": 5, "application_name": APPLICATION_NAME},
    }


def connection_limit(settings: Settings, *, engines: int) -> int | None:
    """Most server connections a process with ``engines`` engines may hold (None for SQLite: a
    file, no server): what a pool of such processes needs of ``max_connections``."""
    if settings.database_url.startswith("sqlite"):
        return None
    return engines * (settings.db_pool_size + settings.db_max_overflow)


def make_engine(url: str) -> Engine:
    return create_engine(url, **engine_kwargs(url))


def rowcount(result: Result[Any]) -> int:
    """Rows matched by an UPDATE/DELETE: how a conditional statement says who won."""
    return int(cast(CursorResult[Any], result).rowcount)


def among(session: Session, column: Any, ids: list[int]) -> Any:
    """``column IN ids``; on PostgreSQL as ``= ANY(array)``, one parameter whatever the number of
    ids, so that psycopg caches and prepares the statement (it does neither past 50 parameters:
    converting such a query costs it milliseconds each time)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(Integer)))
    return column.in_(ids)


@lru_cache
def get_engine() -> Engine:
    return make_engine(get_settings().database_url)


@lru_cache
def _sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine | None = None) -> Iterator[Session]:
    """Commit on success, roll back on error, always close."""
    session = _sessionmaker(engine or get_engine())()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
