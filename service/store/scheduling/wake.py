"""What wakes an idle worker early: a commit to its SQLite database, seen at once.

An idle worker backs off between claims (``REGTUNE_POLL_MIN`` doubling up to
``REGTUNE_POLL_MAX``, 5 s by default), so a study submitted to idle workers waited up to that long
before one of them looked, and a worker that found no room while another held the study's last
slots looked again only after its back-off. On SQLite, ``PRAGMA data_version`` changes whenever
another connection has committed, and reading it costs microseconds: while it waits, an idle
worker reads it every ``WATCH_SECONDS`` and claims as soon as anything was committed since its
last claim (a study created, slots released, a trial finished). On PostgreSQL it waits its
back-off out, as before.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from sqlalchemy.engine import make_url

WATCH_SECONDS = 0.02
"""How often a waiting worker reads SQLite's data version (a pragma: microseconds)."""


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for another database or an in-memory one."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


class Changes:
    """Commits to the database since ``mark``: ``wait`` ends early on one (SQLite only)."""

    def __init__(self, url: str) -> None:
        self._file = sqlite_file(url)
        self._connection: sqlite3.Connection | None = None
        self._marked: int | None = None

    def mark(self) -> None:
        """Remember the database's version now (before a claim): ``wait`` ends once it moved."""
        self._marked = self._version()

    def wait(self, timeout: float, stop: threading.Event) -> None:
        """Return after ``timeout`` seconds, once ``stop`` is set, or once another connection
        committed since ``mark``."""
        if self._marked is None:  # not SQLite, or its version could not be read
            stop.wait(timeout)
            return
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if stop.wait(min(WATCH_SECONDS, left)):
                return
            if self._version() != self._marked:
                return

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _version(self) -> int | None:
        if self._file is None:
            return None
        try:
            if self._connection is None:
                self._connection = sqlite3.connect(  # read-write: never creates the file
                    f"{self._file.resolve().as_uri()}?mode=rw", uri=True, check_same_thread=False
                )
            return int(self._connection.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error:
            self.close()  # the file is gone or unreadable: the back-off alone, until it is back
            return None
