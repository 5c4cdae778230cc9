"""The database outages this process saw: a heartbeat's silence is judged only over time this
process has itself been reaching the database, so an outage is not taken for the death of every
worker in it, whether the process lived through it or was started during or just after it (it
then finds every heartbeat as old as the outage, and cannot tell what silenced them).

Every engine of the process is watched (SQLAlchemy's events on the ``Engine`` class: Optuna's
engine too). A connection to a database server that could not be opened, or one found dead, is
a break; the next connection opened on that database ends it. Statements the database refuses
are not breaks: the database answered. Nor is anything on a SQLite file, which has no server to
lose: what fails there (a lock, a missing file) fails alike for every process on it.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from typing import TypeAlias

from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import URL, ExceptionContext

Database: TypeAlias = tuple[str, str | None, int | None, str | None]

_lock = threading.Lock()
_lost_at: dict[Database, float] = {}
"""When (monotonic seconds) each database was last found unreachable."""
_broken: set[Database] = set()
"""Databases not reached since they were last found unreachable."""
_back_at: dict[Database, float] = {}
"""When this process first reached each database, or reached it again after its last break."""
_known: weakref.WeakSet[Engine] = weakref.WeakSet()
"""Engines that have reached their database once: the usual connection looks up nothing."""


def steady(engine: Engine, seconds: float) -> bool:
    """True if this process has been reaching ``engine``'s database without a break for the
    last ``seconds``: only then can a worker's silence for that long mean more than an outage
    it shared. Always true on a SQLite file, which has no server to lose."""
    reached = reached_for(engine)
    return reached is not None and reached >= seconds


def reached_for(engine: Engine) -> float | None:
    """Seconds since this process first reached ``engine``'s database, or reached it again
    after its last break; None until it does (inf on a SQLite file)."""
    if engine.dialect.name == "sqlite":
        return math.inf
    database = _database(engine.url)
    with _lock:
        if database in _broken:
            return None
        back = _back_at.get(database)
    return None if back is None else time.monotonic() - back


def lost_since(engine: Engine, moment: float) -> bool:
    """True if this process found ``engine``'s database unreachable at or after ``moment``
    (``time.monotonic()``): an error met meanwhile may be the outage's, not its caller's."""
    with _lock:
        lost = _lost_at.get(_database(engine.url))
    return lost is not None and lost >= moment


@event.listens_for(Engine, "handle_error")
def _broke(context: ExceptionContext) -> None:
    engine = context.engine
    if engine is None or engine.dialect.name == "sqlite":
        return
    if not (context.is_disconnect or context.connection is None):
        return  # the database answered (a refused statement): not an outage
    database = _database(engine.url)
    with _lock:
        _lost_at[database] = time.monotonic()
        _broken.add(database)


@event.listens_for(Engine, "engine_connect")
def _reached(connection: Connection) -> None:
    engine = connection.engine
    if not _broken and engine in _known:  # the usual case: nothing to look up
        return
    database = _database(engine.url)
    with _lock:
        _known.add(engine)
        if database in _broken:
            _broken.discard(database)
            _back_at[database] = time.monotonic()
        else:
            _back_at.setdefault(database, time.monotonic())


def _database(url: URL) -> Database:
    """The database ``url`` names, whatever engine, driver options or password reach it."""
    return (url.get_backend_name(), url.host, url.port, url.database)
