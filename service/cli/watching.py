"""Following a study from the command line until it ends (``submit --watch``, ``watch``,
``report --watch``).

Ctrl-C stops the following, never the study: the command says so, with the commands that
follow it again or stop it, and exits 130 (128 + SIGINT), as a shell reports an interrupted
command."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.text import Text

from regtune.service.api.schemas import StudyOut
from regtune.service.cli.output import INTERRUPTED, err
from regtune.service.client.http import Client


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


def stopped_rewriting(study_id: str, path: object) -> typer.Exit:
    """What ``report --watch`` says on Ctrl-C: the page stays as last written, the study goes
    on; the exit to raise."""
    err.print(
        Text.assemble(
            ("stopped rewriting: ", "bold yellow"),
            f"{path} shows study {study_id} as of its last rewrite; the study keeps running on "
            f"the server; regtune report {study_id} --watch rewrites it again",
        )
    )
    return typer.Exit(INTERRUPTED)
