"""Sessions for the API's reads: fewer round trips than a transaction, same answers.

A read through ``db.transaction`` costs three round trips besides its queries: the pool's
pre-ping, ``BEGIN`` and ``COMMIT``. Reads need none of them: each runs in
autocommit (every statement sees what was committed before it, as in a read-committed
transaction), and instead of pinging every connection before use, a read that meets a
connection the database dropped (a restart) is run once more — SQLAlchemy has by then
discarded every connection of the pool older than the failure, so the retry connects afresh.
Only idempotent reads go through here; writes keep ``db.transaction``. The engine has its own
pool (``REGTUNE_DB_POOL_SIZE`` connections), so an API process holds at most three pools' worth.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from typing import TypeVar

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from tenacity import retry, retry_if_exception, stop_after_attempt

from regtune.service.store.db import PerDatabase, engine_kwargs

T = TypeVar("T")


def _dropped(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def _make_read_engine(url: str) -> Engine:
    kwargs = engine_kwargs(url)
    kwargs["pool_pre_ping"] = False
    if not url.startswith("sqlite"):
        kwargs["pool_reset_on_return"] = None  # nothing to roll back in autocommit
    return create_engine(url, isolation_level="AUTOCOMMIT", **kwargs)


read_engine = PerDatabase(_make_read_engine, Engine.dispose)
"""An autocommit engine without pre-ping, beside the read-write one (its own small pool)."""
_sessions = PerDatabase(
    lambda url: sessionmaker(bind=read_engine(url), expire_on_commit=False, autoflush=False)
)


@retry(retry=retry_if_exception(_dropped), stop=stop_after_attempt(2), reraise=True)
def read(fn: Callable[[Session], T]) -> T:
    """``fn(session)`` on a read-only session; run again once if its connection was dropped.

    The session takes its connection before ``fn`` runs, so a lock ``fn`` waits for (a
    study's trial index, a read shared by the callers of one moment) is held by threads that
    have theirs: none waits for the pool with it. A session connects on its first statement:
    one that made it under the index's lock waited for a connection that the reads waiting
    for that lock held, until ``pool_timeout`` (30 s), then answered 503."""
    with _sessions()() as session:
        session.connection()
        return fn(session)


def at_once(session: Session, fn: Callable[[Session], T]) -> T:
    """``fn(session)`` in one read-only transaction, so that every statement of it sees the
    database as the first one did: a page built from several reads (the study report: counts,
    samples, curves) never mixes trials that finished between two of them. The read session is
    in autocommit, where each statement would see its own moment; SQLite takes the snapshot at
    the first read after ``BEGIN``, PostgreSQL at the first statement of a repeatable read."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    session.execute(text("BEGIN" if sqlite else "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
    try:
        result = fn(session)
    except BaseException:
        with suppress(SQLAlchemyError):  # a dropped connection: the error below says so
            session.execute(text("ROLLBACK"))
        raise
    session.execute(text("ROLLBACK"))
    return result
