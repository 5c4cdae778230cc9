"""Following a study from the command line until it ends (``submit --watch``, ``watch``,
``report --watch``).

Ctrl-C stops the following, never the study: the command says so, with the commands that
follow it again or stop it, and exits 130 (128 + SIGINT), as a shell reports an interrupted
command. An API that goes away is asked again for a while (``Client.wait``), said once on
stderr; one that stays away ends the following the same way, with ``API_AWAY``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from regtune.service.api.schemas.studies import StudyOut
from regtune.service.cli.output import INTERRUPTED, err
from regtune.service.client.errors import ClientError, unavailable
from regtune.service.client.http import Client

MIN_POLL = 0.1
"""The shortest ``--poll`` of ``submit --watch`` and ``report --watch``: 0 asked the API for
the study about 270 times a second for as long as it ran, and a negative report poll was a
traceback from ``time.sleep``."""
MAX_POLL = 3600.0
"""The longest ``--poll``: an hour between looks still follows a study; ``inf`` was a
traceback (``OverflowError`` from the clock) once the first pause began."""
ProgressPollOpt = Annotated[
    float,
    typer.Option(
        min=MIN_POLL,
        max=MAX_POLL,
        help="Seconds between progress updates (the end is seen at once).",
    ),
]
WatchOpt = Annotated[
    bool, typer.Option("--watch", "-w", help="Show live progress until the study ends.")
]
API_AWAY = 75
"""The exit status of a watch that gave up on an API that stayed away (``Client.wait``'s
patience): EX_TEMPFAIL of sysexits.h, try again later; neither the study's end (0, 1, 2) nor
Ctrl-C (130)."""


def follow(client: Client, study: StudyOut, *, console: Console, poll: float) -> StudyOut:
    """``study`` until it has ended (and its best model is saved); on Ctrl-C, one line on
    stderr and exit ``INTERRUPTED``; for an API that stayed away, its error, that line and exit
    ``API_AWAY``."""
    from regtune.service.client.watch import watch

    def warn(text: str) -> None:
        err.print(Text.assemble(("warning: ", "bold yellow"), text))

    try:
        return watch(client, study, console=console, poll=poll, on_outage=warn, on_idle=warn)
    except KeyboardInterrupt:
        _stopped_watching(study)
        raise typer.Exit(INTERRUPTED) from None
    except ClientError as exc:
        if not unavailable(exc):
            raise
        err.print(Text.assemble(("error: ", "bold red"), f"{exc}; gave up"))
        _stopped_watching(study)
        raise typer.Exit(API_AWAY) from None


def _stopped_watching(study: StudyOut) -> None:
    err.print(
        Text.assemble(
            ("stopped watching: ", "bold yellow"),
            f"study {study.id} ({study.name}) keeps running on the server; "
            f"regtune watch {study.id} follows it again, regtune cancel {study.id} stops it",
        )
    )


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
