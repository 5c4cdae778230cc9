"""What every talking command shares: the options, the client call, and the two outputs.

Human output goes to the terminal; ``--json`` prints pure JSON on stdout and nothing else there
(progress and messages go to stderr).
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

from regtune.service.client.errors import ApiDidNotAnswer, ClientError, InvalidArgument
from regtune.service.client.http import Client
from regtune.service.logs import escaped


class CliConsole(Console):
    """rich's console, whose closed pipe ends the command as a closed stdout does
    (``failures.Regtune``: quietly, status 141), not with rich's own exit status 1."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


# outside a terminal (a pipe, a CI log) a line is not broken at rich's default 80 columns
console = CliConsole(soft_wrap=not sys.stdout.isatty())
err = CliConsole(stderr=True, soft_wrap=not sys.stderr.isatty())


NAME_WIDTH = 40
"""The widest a listing's name column is on a terminal (whole elsewhere)."""
NAME_FLOOR = 10
"""The narrowest a name is cut to (with an ellipsis) before a terminal leaves out columns."""
KEPT = frozenset({"status", "state"})
"""Headers of the columns a narrow terminal keeps with the first one and the ids."""


def id_column(header: str, values: list[str]) -> Column:
    """A table column of ids, never cut or wrapped, however narrow the output: an id is what the
    next command takes (other columns give way first)."""
    return Column(
        header, no_wrap=True, overflow="fold", min_width=max([len(v) for v in values], default=0)
    )


def listing(ids: list[str], *headers: str) -> Table:
    """A table of things by id and name, then ``headers``: on a terminal, ids are never cut,
    names are cut (with an ellipsis) to fit, at most ``NAME_WIDTH`` (see ``print_table``),
    measured with the rest of the table once it is filled (``fitted``)."""
    return Table(id_column("id", ids), Column("name", no_wrap=True, overflow="ellipsis"), *headers)


def print_table(table: Table) -> None:
    """Print a table on stdout. On a terminal it fits the terminal's width (``fitted``).
    Elsewhere (a pipe, a file, a CI log) nothing is cut or folded: it takes the width its cells
    need, as a line there is not broken at rich's default 80 columns either."""
    if not console.is_terminal:
        unbounded = console.options.update_width(sys.maxsize)
        table.width = console.measure(table, options=unbounded).maximum
        console.print(table, crop=False)
        return
    shown, left_out = fitted(table, console.width)
    console.print(shown, crop=False)
    if left_out:
        console.print(
            Text(f"not shown at this width: {', '.join(left_out)} (--json has every column)"),
            style="dim",
        )


def fitted(table: Table, width: int) -> tuple[Table, list[str]]:
    """``table`` in ``width`` columns, and the headers of the columns it left out. Ids
    (``id_column``) keep their width; a name (``listing``) is cut to fit, down to
    ``NAME_FLOOR``; the other columns wrap at spaces, the widest first; then columns are left
    out from the right: the others, the name, and only then ids and ``KEPT`` ones; the first
    never (an id wider than the terminal stays whole, past its edge). Rich, left alone,
    squeezed the other columns to nothing beside a long name."""
    unbounded = console.options.update_width(sys.maxsize)
    spans = []  # (narrowest, widest): a column's longest word, and its longest line
    for column in table.columns:
        cells = [column.header, *column.cells]
        sizes = [console.measure(cell, options=unbounded) for cell in cells]
        spans.append((max(m.minimum for m in sizes), max(m.maximum for m in sizes)))
    names = [i for i, c in enumerate(table.columns) if c.no_wrap and c.overflow == "ellipsis"]
    fixed = {i for i, c in enumerate(table.columns) if c.no_wrap and i not in names}
    kept = fixed | {i for i, c in enumerate(table.columns) if str(c.header) in KEPT}
    shown = list(range(len(table.columns)))
    droppable = [i for i in reversed(shown) if i not in kept and i not in names] + names
    droppable += [i for i in reversed(shown) if i in kept and i != 0]
    while (widths := _shared(spans, shown, names, fixed, room=width - 3 * len(shown) - 1)) is None:
        if not droppable:  # the first column alone is wider than the terminal
            widths = {0: spans[0][0]}
            break
        shown.remove(droppable.pop(0))
    columns = [  # an id keeps its least width (``id_column``), past the terminal's if need be
        table.columns[i] if i in fixed else replace(table.columns[i], width=widths[i])
        for i in shown
    ]
    narrowed = Table(
        *columns,
        box=table.box,
        title=table.title,
        caption=table.caption,
        show_lines=table.show_lines,
    )
    narrowed.rows = table.rows  # each row's style and section, as rich keeps them
    left_out = [str(c.header) for i, c in enumerate(table.columns) if i not in shown]
    return narrowed, left_out


def _shared(
    spans: list[tuple[int, int]], shown: list[int], names: list[int], fixed: set[int], *, room: int
) -> dict[int, int] | None:
    """Widths of the ``shown`` columns within ``room`` (``fitted``'s order of giving way), or
    None if they cannot fit."""
    widths = {i: spans[i][1] for i in shown if i not in names}
    name = next((i for i in names if i in shown), None)
    wrapping = sorted(
        (i for i in widths if i not in fixed), key=lambda i: spans[i][0] - spans[i][1]
    )
    for next_to_wrap in [None, *wrapping]:
        if next_to_wrap is not None:
            widths[next_to_wrap] = spans[next_to_wrap][0]
        left = room - sum(widths.values())
        if name is None and left >= 0:
            return widths
        if name is not None and left >= min(spans[name][1], NAME_FLOOR):
            return widths | {name: min(spans[name][1], NAME_WIDTH, left)}
    return None


UrlOpt = Annotated[str | None, typer.Option("--url", envvar="REGTUNE_URL", help="API base URL.")]
KeyOpt = Annotated[str | None, typer.Option("--key", envvar="REGTUNE_KEY", help="API key.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
MAX_OFFSET = 1_000_000
"""The API's largest ``offset`` of a listing of studies or of datasets."""
MAX_TRIAL_OFFSET = 10_000_000
"""The API's largest ``offset`` of a study's trials."""
OffsetOpt = Annotated[int, typer.Option(min=0, max=MAX_OFFSET, help="Skip this many.")]
TrialOffsetOpt = Annotated[int, typer.Option(min=0, max=MAX_TRIAL_OFFSET, help="Skip this many.")]


def shown_of(shown: int, total: int, noun: str, *, offset: int, plural: str | None = None) -> str:
    """A listing's footer, ``2 of 5 studies`` (``1 of 1 study``: the noun agrees with the
    total; ``plural`` when it is not the noun and an s), and where the next ones start when
    there are more: ``(the next ones: --offset 2)``."""
    said = f"{shown} of {total} {noun if total == 1 else plural or noun + 's'}"
    if offset + shown < total:
        said += f" (the next ones: --offset {offset + shown})"
    return said


T = TypeVar("T")


def fail(exc: Exception | str) -> NoReturn:
    """Print the API's message (never a traceback) and exit 1: one line, whose characters
    that are not printable are escaped (``\\x1b``), whatever the API sent (a key of the
    caller's repeated in a 422 cleared the terminal and recoloured it)."""
    err.print(Text.assemble(("error: ", "bold red"), escaped(str(exc))))
    raise typer.Exit(1)


OPTIONS = {"url": "--url", "key": "--key"}
"""The client's arguments that a command takes as an option of another name."""


def refuse(exc: InvalidArgument) -> NoReturn:
    """A value the client refused before asking anything, named as the command took it (an
    argument, ``study_id``; an option, ``--url``, ``--point #2, lambda``; its variable,
    ``REGTUNE_URL``): one line and a usage error's status, 2."""
    if point := re.fullmatch(r"points\[(\d+)\]\.?(.*)", exc.argument):  # extend's --point
        given_as = f"--point #{int(point[1]) + 1}" + (f", {point[2]}" if point[2] else "")
    else:
        given_as = OPTIONS.get(exc.argument, exc.argument)
    err.print(Text.assemble(("error: ", "bold red"), f"{given_as}: {exc.rule}"))
    raise typer.Exit(typer.BadParameter.exit_code)


INTERRUPTED = 130
"""The exit status of a command stopped by Ctrl-C: 128 + SIGINT (2), as a shell reports it."""


def interrupted(unanswered: str) -> typer.Exit:
    """What a command that changes something says on Ctrl-C before the service answered:
    ``unanswered``, what may or may not have happened and how to tell; the exit to raise."""
    err.print(
        Text.assemble(
            ("interrupted: ", "bold yellow"), f"the service had not answered, so {unanswered}"
        )
    )
    return typer.Exit(INTERRUPTED)


def call(
    url: str | None,
    key: str | None,
    request: Callable[[Client], T],
    *,
    unanswered: str | None = None,
) -> T:
    """One conversation with the API; any failure is printed as one line and exits 1.
    ``unanswered``: for a request that changes something, what Ctrl-C before the answer, or an
    answer that never came (REGTUNE_TIMEOUT ran out, the connection broke), leaves unknown and
    how to tell (``interrupted``); a read ends quietly on Ctrl-C."""
    try:
        with Client(url, key=key) as client:
            return request(client)
    except KeyboardInterrupt:
        if unanswered is None:
            raise
        raise interrupted(unanswered) from None
    except BrokenPipeError:  # the output's reader went away: no failure (failures.Regtune)
        raise
    except InvalidArgument as exc:
        refuse(exc)
    except ApiDidNotAnswer as exc:
        if unanswered is None or not exc.changes:
            fail(exc)
        fail(f"{exc.event}, so {unanswered}" + (f"; {exc.hint}" if exc.hint else ""))
    except (ClientError, OSError) as exc:
        fail(exc)


def print_json(data: BaseModel | list[Any] | dict[str, Any]) -> None:
    """The API's answer as it sent it: models (also inside a list or dict) are dumped with
    ``model_dump(mode="json")``; a non-finite number (a metric of one class) is null, so any
    JSON parser reads it."""
    plain = to_jsonable_python(data, inf_nan_mode="null")
    sys.stdout.write(json.dumps(plain, indent=2, allow_nan=False) + "\n")


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    if isinstance(value, list):
        return ", ".join(fmt(v) for v in value)
    return str(value)


def sorted_by_name(metrics: dict[str, Any]) -> dict[str, Any]:
    """Metrics in one order wherever they are shown (a trial's, a refit's, predict's), one
    undefined on its rows (NaN, null from the API: the R² of one row, the AUC of one class)
    as ``n/a``."""
    return {k: "n/a" if _undefined(v) else v for k, v in sorted(metrics.items())}


def _undefined(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def params(values: dict[str, Any]) -> str:
    return " ".join(f"{k}={fmt(v)}" for k, v in values.items())
