"""Following a study from the command line until it ends (``submit --watch``, ``watch``).

Ctrl-C stops the following, never the study: the command says so, with the commands that
follow it again or stop it, and exits 130 (128 + SIGINT), as a shell reports an interrupted
command."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.text import Text

from regtune.service.api.schemas import StudyOut
from regtune.service.cli.output import err
from regtune.service.client.http import Client

INTERRUPTED = 130
"""The exit status of a watch stopped by Ctrl-C: 128 + SIGINT (2)."""


def follow(client: Client, study: StudyOut, *, console: Console, poll: float) -> StudyOut:
    """``study`` until it has ended (and its best model is saved); on Ctrl-C, one line on
    stderr and exit ``INTERRUPTED``."""
    from regtune.service.client.watch import watch

    try:
        return watch(client, study, console=console, poll=poll)
    except KeyboardInterrupt:
        err.print(
            Text.assemble(
                ("stopped watching: ", "bold yellow"),
                f"study {study.id} ({study.name}) keeps running on the server; "
                f"regtune watch {study.id} follows it again, regtune cancel {study.id} stops it",
            )
        )
        raise typer.Exit(INTERRUPTED) from None
