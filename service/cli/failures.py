"""How a command that cannot run says why: one line on stderr and a non-zero status, never a
traceback.

The parts raise domain errors (``InvalidSettings``, ``Stopped``) or let a database error
through; this is the one place that turns them into words. ``REGTUNE_LOG_LEVEL=DEBUG`` logs the
traceback as well. A reader that goes away (``regtune predict … | head -1``) is no error: the
command ends quietly, as a Unix tool does.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import typer
from rich.text import Text
from typer.core import TyperGroup

from regtune.service.cli.output import err
from regtune.service.errors import (
    InvalidSettings,
    LoginRefused,
    SchemaChangeRefused,
    SchemaTooNew,
)
from regtune.service.lifetime import Stopped

log = logging.getLogger("regtune.cli")

SETTINGS_STATUS = 2
"""Like a wrong option: the command cannot run as configured."""
UNREACHABLE_STATUS = 1
CLOSED_PIPE_STATUS = 141
"""A command whose output's reader went away: 128 + SIGPIPE (13), the status a shell reports
for ``seq``, ``cat`` or ``grep`` stopped the same way, so ``set -o pipefail`` sees the same."""


def explain(exc: Exception) -> tuple[list[str], int] | None:
    """The lines to print and the exit status for ``exc``, or None for an error of another kind
    (a bug: its traceback is the useful answer)."""
    if isinstance(exc, InvalidSettings):
        return [f"{problem.path}: {problem.rule}" for problem in exc.fields], SETTINGS_STATUS
    if isinstance(exc, SchemaTooNew | SchemaChangeRefused | LoginRefused):
        return [str(exc)], SETTINGS_STATUS
    if isinstance(exc, Stopped):
        cause = exc.__cause__
        if cause is None:
            return [str(exc)], exc.exit_status
        from regtune.service.store.backoff import describe

        return [f"{exc} (last error: {describe(cause)})"], exc.exit_status
    try:
        from regtune.service.store.backoff import (
            DATABASE_TRANSIENT,
            caused_by_database,
            describe,
            refused_login,
        )
    except ImportError:  # the client alone: no database of its own
        return None
    if (not_sqlite := _not_a_database(exc)) is not None:
        return [not_sqlite], SETTINGS_STATUS
    if not caused_by_database(exc, among=DATABASE_TRANSIENT):  # not any ConnectionError
        return None
    from regtune.service.database_url import hide_password
    from regtune.service.settings import get_settings

    url = get_settings().database_url
    if refusal := refused_login(exc, url):  # the dashboard's, which opens Optuna's storage
        return [refusal], SETTINGS_STATUS
    where = hide_password(url)
    return [f"cannot reach the database at {where}: {describe(exc)}"], UNREACHABLE_STATUS


def _not_a_database(exc: Exception) -> str | None:
    """The line for SQLite finding that the file ``REGTUNE_DATABASE_URL`` names is no database
    (``SQLITE_NOTADB``: a CSV, a file of another program), else None: a setting to change, as
    no wait or retry makes it one."""
    from regtune.service.store.backoff import error_chain

    if not any(
        # sqlite3.ProgrammingError is a DatabaseError without an error code
        getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_NOTADB
        for error in error_chain(exc)
    ):
        return None
    from sqlalchemy.engine import make_url

    from regtune.service.settings import get_settings

    url = get_settings().database_url
    path = Path(make_url(url).database or "").expanduser().absolute()
    return (
        f"REGTUNE_DATABASE_URL: the file {str(path)!r} is not a SQLite database (file is not a "
        f"database): point it at a regtune database or a path that does not exist yet, got {url!r}"
    )


class Regtune(TyperGroup):
    """The ``regtune`` command group: each subcommand's failures go through ``explain``."""

    def invoke(self, ctx: Any) -> Any:
        try:
            try:
                result = super().invoke(ctx)
            except typer.Exit:
                sys.stdout.flush()  # a closed pipe found here, not in the exit's own flush
                raise
            sys.stdout.flush()
            return result
        except BrokenPipeError:
            _discard_stdout()
            raise typer.Exit(CLOSED_PIPE_STATUS) from None
        except Exception as exc:
            explained = explain(exc)
            if explained is None:
                raise
            lines, status = explained
            log.debug("%s", lines[0], exc_info=exc)
            for line in lines:
                err.print(Text.assemble(("error: ", "bold red"), line))
            raise typer.Exit(status) from None


def _discard_stdout() -> None:
    """Point stdout at the null device, so that what is still buffered for the reader that went
    away is dropped at exit instead of failing again (Python's documented way, "Note on
    SIGPIPE" in the ``signal`` module)."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):  # not a file (a test runner's buffer): nothing to redirect
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)
