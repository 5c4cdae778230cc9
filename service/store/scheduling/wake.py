"""What wakes an idle worker early: a change that may have made room, seen at once.

An idle worker backs off between claims (``REGTUNE_POLL_MIN`` doubling up to
``REGTUNE_POLL_MAX``, 5 s by default), so a study submitted to idle workers waited up to that long
before one of them looked, and a worker that found no room while another held the study's last
slots looked again only after its back-off. ``Changes`` ends that wait early:

- On SQLite, ``PRAGMA data_version`` changes whenever another connection has committed, and
  reading it costs microseconds: while it waits, an idle worker reads it every
  ``WATCH_SECONDS`` and claims as soon as anything was committed since its last claim.
- On PostgreSQL, a trigger notifies the channel ``regtune_work`` when a study is created or its
  room grows (migration 0005 says when). An idle worker ``LISTEN``s on one of its engine's
  pooled connections, the one its claims leave free, so the pool needs no extra connection; it
  gives the connection back to the pool (``busy``) as soon as it has work.

The API's answers held until a study has ended (``GET /v1/studies/{id}?wait=``) look at SQLite's
data version too (``versions``): the study's row is read again only once something was committed.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, cast

import psycopg
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import PoolProxiedConnection

from regtune.service.store.backoff import describe
from regtune.service.store.db import PerDatabase
from regtune.service.store.sqlite_file import sqlite_file

log = logging.getLogger(__name__)

DATABASE_ERRORS = (SQLAlchemyError, psycopg.Error)

WATCH_SECONDS = 0.02
"""How often a waiting worker reads SQLite's data version (a pragma: microseconds)."""
LISTEN_SECONDS = 0.25
"""How long one look for a notification blocks: how soon a waiting worker sees its stop."""
RELISTEN_SECONDS = 1.0
"""After the connection it listened on broke (a database restart), how long a worker waits
before it looks for work and listens again: its back-off may be long, the outage short."""
CHANNEL = "regtune_work"
"""The channel migration 0005's trigger notifies."""


class Changes:
    """What ends an idle worker's wait early: a commit to its SQLite file since ``mark``, or a
    notification on PostgreSQL (``engine``: the worker's own, when its pool can lend one
    connection while idle). Any other database: the wait is the back-off."""

    def __init__(self, url: str, *, engine: Engine | None = None) -> None:
        file = sqlite_file(url)
        self._version = _Watch(file) if file is not None else None
        self._listener: _Listener | None = None
        if engine is not None and engine.dialect.name == "postgresql":
            self._listener = _Listener(engine)

    def mark(self) -> None:
        """Call before a claim: ``wait`` ends at once if something changed since."""
        if self._version is not None:
            self._version.mark()

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        """Return after ``timeout`` seconds or once ``stop`` is set (False), or once something
        changed since ``mark`` (True)."""
        if self._version is not None:
            return self._version.wait(timeout, stop)
        if self._listener is not None:
            heard = self._listener.wait(timeout, stop)
            if heard is not None:
                return heard
        stop.wait(timeout)
        return False

    def busy(self) -> None:
        """The worker has work: it gives back what it held to wait (PostgreSQL's connection)."""
        if self._listener is not None:
            self._listener.release()

    def close(self) -> None:
        if self._version is not None:
            self._version.close()
        self.busy()


class DataVersion:
    """SQLite's ``PRAGMA data_version`` of ``file``, read on a connection of its own: it changes
    whenever another connection has committed. Safe to read from several threads. No file (another
    database, or an in-memory one): nothing to read."""

    def __init__(self, file: Path | None) -> None:
        self._file = file
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    @property
    def watches(self) -> bool:
        """Whether a change can be seen here at all."""
        return self._file is not None

    def read(self) -> int | None:
        """The version now; None if there is no file or it cannot be read (gone, unreadable)."""
        if self._file is None:
            return None
        with self._lock:
            try:
                if self._connection is None:
                    self._connection = sqlite3.connect(  # read-write: never creates the file
                        f"{self._file.resolve().as_uri()}?mode=rw",
                        uri=True,
                        check_same_thread=False,
                    )
                return int(self._connection.execute("PRAGMA data_version").fetchone()[0])
            except sqlite3.Error:
                self._close()  # the file is gone or unreadable: read again next time
                return None

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


versions = PerDatabase(lambda url: DataVersion(sqlite_file(url)), DataVersion.close)
"""This process's reader of each database's data version (``DataVersion``)."""


class _Watch:
    """An idle worker's wait on a SQLite file: over once the version differs from ``mark``'s."""

    def __init__(self, file: Path) -> None:
        self._version = DataVersion(file)
        self._marked: int | None = None

    def mark(self) -> None:
        self._marked = self._version.read()

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        if self._marked is None:  # its version could not be read
            stop.wait(timeout)
            return False
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if stop.wait(min(WATCH_SECONDS, left)):
                return False
            if self._version.read() != self._marked:
                return True
        return False

    def close(self) -> None:
        self._version.close()


class _Listener:
    """``LISTEN regtune_work`` on a connection of the engine's pool, held while idle."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._held: PoolProxiedConnection | None = None
        self._said: set[str] = set()

    def wait(self, timeout: float, stop: threading.Event) -> bool | None:
        """True once notified, or soon after the connection broke (look, then listen again);
        False after ``timeout`` or the stop; None if it cannot listen (the caller waits its
        back-off out)."""
        if self._held is None:
            if not self._listen():
                return None
            return True  # what changed between the claim and the LISTEN went unheard: look now
        connection = cast(psycopg.Connection[Any], self._held.driver_connection)
        deadline = time.monotonic() + timeout
        try:
            while (left := deadline - time.monotonic()) > 0 and not stop.is_set():
                for _ in connection.notifies(timeout=min(LISTEN_SECONDS, left), stop_after=1):
                    return True
        except DATABASE_ERRORS as exc:
            self._say("lost", exc, "lost the connection it listened on", "will listen again")
            self._drop()
            return not stop.wait(min(RELISTEN_SECONDS, max(0.0, deadline - time.monotonic())))
        return False

    def release(self) -> None:
        """Stop listening and give the connection back to the pool."""
        held, self._held = self._held, None
        if held is None:
            return
        try:
            held.cursor().execute("UNLISTEN *")
            held.commit()
        except DATABASE_ERRORS:
            held.invalidate()  # broken or unsure: the pool opens a fresh one when it needs it
        held.close()

    def _listen(self) -> bool:
        try:
            held = self._engine.raw_connection()
        except DATABASE_ERRORS as exc:
            self._say("connect", exc, "cannot listen for work", "waiting out the back-off")
            return False
        try:
            held.cursor().execute(f"LISTEN {CHANNEL}")
            held.commit()
        except DATABASE_ERRORS as exc:
            self._say("listen", exc, "cannot listen for work", "waiting out the back-off")
            held.invalidate()
            held.close()
            return False
        self._held = held
        return True

    def _say(self, what: str, exc: BaseException, failed: str, then: str) -> None:
        """One line, a warning the first time, debug after: a proxy that refuses LISTEN refuses
        it at every idle wait (the error's first line: the driver's runs over several)."""
        level = logging.DEBUG if what in self._said else logging.WARNING
        log.log(level, "%s (%s); %s", failed, describe(exc), then)
        self._said.add(what)

    def _drop(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.invalidate()
            held.close()
