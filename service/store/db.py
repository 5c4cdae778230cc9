"""Engines and the one transaction helper shared by the API and the workers."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from functools import lru_cache
from typing import Any, ClassVar, Generic, TypeVar, cast

from sqlalchemy import CursorResult, Engine, Integer, Result, any_, bindparam, create_engine, event
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, sessionmaker

from regtune.service.errors import FieldProblem, InvalidSettings
from regtune.service.settings import Settings, get_settings
from regtune.service.store import outages as outages  # its listeners watch every engine
from regtune.service.store.sqlite_file import sqlite_file

T = TypeVar("T")


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


UNWRITABLE = frozenset({sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM})
"""SQLite's primary result codes for a file it cannot write or create: a read-only or immutable
file, a folder where it cannot make its -wal and -shm files. No wait changes them."""


def require_writable_sqlite(url: str) -> None:
    """``InvalidSettings`` if ``url`` is a SQLite file that cannot be written (or created): the
    processes would start and then retry every write for ever, as if the database were away.

    The probe writes for real and rolls back: ``BEGIN IMMEDIATE`` alone passes on an immutable
    file in WAL mode (its lock lives in the -shm file), and ``os.access`` passes as root, whom
    permission bits do not stop but immutability does."""
    named = sqlite_file(url)
    if named is None:
        return
    path = named.expanduser().absolute()
    try:
        timeout = get_settings().sqlite_busy_timeout_ms / 1000
        with closing(sqlite3.connect(path, timeout=timeout, isolation_level=None)) as probe:
            probe.execute("PRAGMA journal_mode = WAL")  # as every connection sets it
            probe.execute("BEGIN IMMEDIATE")
            (version,) = probe.execute("PRAGMA user_version").fetchone()
            probe.execute(f"PRAGMA user_version = {int(version)}")
            probe.execute("ROLLBACK")
    except sqlite3.Error as exc:
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF not in UNWRITABLE:
            return  # locked, or no database at all: the migration meets it and says so
        raise InvalidSettings(
            "REGTUNE_DATABASE_URL names a SQLite file that cannot be written",
            fields=[
                FieldProblem(
                    path="REGTUNE_DATABASE_URL",
                    rule=f"the SQLite file {str(path)!r} cannot be written ({exc}): the file or "
                    f"its folder {str(path.parent)!r} is read-only for this user or immutable "
                    "(lsattr), and regtune writes the database and SQLite its -wal and -shm "
                    f"files beside it (make both writable, or name another file), got {url!r}",
                )
            ],
        ) from exc


APPLICATION_NAME = "regtune"
"""How regtune's connections show in ``pg_stat_activity.application_name``."""


def engine_kwargs(url: str) -> dict[str, Any]:
    """Connection options for any engine on ``url`` (ours and Optuna's): a small bounded pool.

    An API process has three engines, regtune's, Optuna's RDBStorage and one for its reads,
    so it holds at most ``3 × (db_pool_size + db_max_overflow)`` connections: 6 with the
    defaults (2 + 0); the dashboard two (4). A worker's storage shares regtune's engine
    (``storage.run_on``), so it holds at most 2 — its main thread and its heartbeat thread —
    and 32 workers, an API process and the dashboard hold at most 74 of PostgreSQL's default
    ``max_connections`` = 100.
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


class PerDatabase(Generic[T]):
    """What a process makes once per database URL (an engine, Optuna's storage): the settings'
    database decides which one a call gets, so a process that changes its settings (a test, a
    benchmark) gets the new database's without forgetting anything, and ``close_database`` ends
    what was made for a database no longer used."""

    made: ClassVar[list[PerDatabase[Any]]] = []

    def __init__(
        self, make: Callable[[str], T], dispose: Callable[[T], None] | None = None
    ) -> None:
        self._make = make
        self._dispose = dispose
        self._by_url: dict[str, T] = {}
        self._lock = threading.Lock()
        PerDatabase.made.append(self)

    def __call__(self, url: str | None = None) -> T:
        url = url or get_settings().database_url
        found = self._by_url.get(url)
        if found is None:
            with self._lock:
                found = self._by_url.get(url)
                if found is None:
                    found = self._by_url[url] = self._make(url)
        return found

    def close(self, url: str | None = None) -> None:
        with self._lock:
            urls = [url] if url is not None else list(self._by_url)
            found = [self._by_url.pop(u) for u in urls if u in self._by_url]
        if self._dispose is not None:
            for made in found:
                self._dispose(made)


def close_database(url: str | None = None) -> None:
    """Dispose of every engine and storage this process made for the database ``url`` (for
    every database if None)."""
    for per_database in PerDatabase.made:
        per_database.close(url)


get_engine = PerDatabase(make_engine, Engine.dispose)
"""The process's read-write engine of the settings' database."""


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
