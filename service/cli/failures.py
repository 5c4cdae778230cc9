"""How a command that cannot run says why: one line on stderr and a non-zero status, never a
traceback.

The parts raise domain errors (``InvalidSettings``, ``Stopped``) or let a database error
through; this is the one place that turns them into words. ``REGTUNE_LOG_LEVEL=DEBUG`` logs the
traceback as well.
"""

from __future__ import annotations

import logging
from typing import Any

import typer
from rich.text import Text
from typer.core import TyperGroup

from regtune.service.cli.output import err
from regtune.service.errors import InvalidSettings
from regtune.service.lifetime import Stopped

log = logging.getLogger("regtune.cli")

SETTINGS_STATUS = 2
"""Like a wrong option: the command cannot run as configured."""
UNREACHABLE_STATUS = 1


def explain(exc: Exception) -> tuple[list[str], int] | None:
    """The lines to print and the exit status for ``exc``, or None for an error of another kind
    (a bug: its traceback is the useful answer)."""
    if isinstance(exc, InvalidSettings):
        return [f"{problem.path}: {problem.rule}" for problem in exc.fields], SETTINGS_STATUS
    if isinstance(exc, Stopped):
        cause = exc.__cause__
        if cause is None:
            return [str(exc)], exc.exit_status
        from regtune.service.store.backoff import describe

        return [f"{exc} (last error: {describe(cause)})"], exc.exit_status
    try:
        from regtune.service.store.backoff import caused_by_database, describe
    except ImportError:  # the client alone: no database of its own
        return None
    if not caused_by_database(exc):
        return None
    from regtune.service.settings import get_settings, hide_password

    where = hide_password(get_settings().database_url)
    return [f"cannot reach the database at {where}: {describe(exc)}"], UNREACHABLE_STATUS


class Regtune(TyperGroup):
    """The ``regtune`` command group: each subcommand's failures go through ``explain``."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            explained = explain(exc)
            if explained is None:
                raise
            lines, status = explained
            log.debug("%s", lines[0], exc_info=exc)
            for line in lines:
                err.print(Text.assemble(("error: ", "bold red"), line))
            raise typer.Exit(status) from None
