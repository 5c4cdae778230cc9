"""Which SQLite file a process opened, and whether its path still names that file.

A SQLite file deleted (or replaced) while regtune runs lives on in the processes that hold it
open: they go on answering and writing, to a file no path names, and all of it is lost when they
stop. A process started after that (a restarted child of ``regtune serve``) opened a new, empty
file at the path and ran the studies' trials again. The readiness check and ``serve`` compare the
file at the path with the one opened at start (``OpenedFile.gone``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL, as it names it; None for another database or an
    in-memory one."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


@dataclass(frozen=True)
class OpenedFile:
    """A SQLite file, known by its device and inode as well as its path."""

    path: Path
    device: int
    inode: int

    @classmethod
    def of(cls, url: str) -> OpenedFile | None:
        """The file ``url`` names now; None for another database, memory, or no file yet."""
        named = sqlite_file(url)
        if named is None:
            return None
        path = named.expanduser().absolute()
        try:
            found = os.stat(path)
        except OSError:
            return None
        return cls(path, found.st_dev, found.st_ino)

    def gone(self) -> str | None:
        """Why the path no longer names this file, or None while it does."""
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            how = "deleted"
        except OSError:
            return None  # unreadable for a moment is not gone: the database checks say more
        else:
            if (found.st_dev, found.st_ino) == (self.device, self.inode):
                return None
            how = "replaced by another file"
        return (
            f"the SQLite file {str(self.path)!r} was {how} while regtune ran: the processes "
            "that opened it go on with that file, which the path no longer names (a deleted "
            "one is lost when they stop), and a process started now would open another database"
        )
