"""Following a study from the command line until it ends (``submit --watch``, ``watch``,
``report --watch``), and Ctrl-C in ``submit`` before the service answered.

Ctrl-C stops the following, never the study: the command says so, with the commands that
follow it again or stop it, and exits 130 (128 + SIGINT), as a shell reports an interrupted
command. A submission interrupted before its answer may or may not have created the study: the
command says so, with the listing that shows it if it did, and exits 130 as well."""

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


def interrupted_submission(name: str | None) -> typer.Exit:
    """What ``submit`` says on Ctrl-C before the service answered its request: the study may
    or may not have been created, and which listing shows it if it was; the exit to raise."""
    if name is None:  # the file names no study this can repeat: the newest come first
        where, which = "regtune ls lists it first if it was created", "the study"
    else:
        where = f"regtune ls --name {name} lists it if it was created"
        which = f"study {name!r}"
    err.print(
        Text.assemble(
            ("submission interrupted: ", "bold yellow"),
            f"the service had not answered, so {which} may or may not exist; {where}",
        )
    )
    return typer.Exit(INTERRUPTED)


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
