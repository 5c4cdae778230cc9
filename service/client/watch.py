"""A study's progress while it runs: complete / pruned / failed of n, best value, elapsed, ETA.

"failed" counts the trials that failed of themselves (``StudyOut.fail_breakdown``), in red; the
other FAIL trials follow, dim and named for what became of them ("interrupted 2"), only when
there are some: a pool whose workers are restarted hands trials back, and those run again.

On a terminal, a live bar. Elsewhere (a CI log, a pipe), where a bar cannot redraw, a line when
the progress changes (at most one every ``LOG_EVERY`` seconds, and at every change of status),
each whole, however narrow the log."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, NamedTuple

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from regtune.service.api.schemas.studies import StudyOut
from regtune.service.client.best_model import awaits_model
from regtune.service.client.http import Client
from regtune.service.client.pool import NoWorker
from regtune.service.spec.enums import StudyStatus

EXIT_CODES: dict[str, int] = {
    StudyStatus.COMPLETED: 0,
    StudyStatus.FAILED: 1,
    StudyStatus.CANCELLED: 2,
}
"""``regtune submit --watch`` exits with these; a failed study is non-zero, as CI expects."""


LOG_EVERY = 10.0
"""Seconds between progress lines outside a terminal (a change of status prints at once)."""


def objective_names(study: StudyOut) -> list[str]:
    """The study's objectives as its definition names them: ``objectives``, or
    ``objective.metric`` alone (none for a definition that gives neither)."""
    definition = study.definition
    if names := definition.get("objectives"):
        return [str(name) for name in names]
    metric = (definition.get("objective") or {}).get("metric")
    return [str(metric)] if metric else []


def named_values(study: StudyOut, values: Sequence[float | None]) -> str:
    """A trial's value(s) by the objective each is: ``val_rmse 53.839``, or with several
    ``val_rmse=56.1177 n_inputs=10`` (``value 53.839`` where the definition names none)."""
    shown = _shown(values)
    names = objective_names(study)
    if len(shown) > 1:
        if len(names) != len(shown):
            return ", ".join(shown)
        return " ".join(f"{name}={v}" for name, v in zip(names, shown, strict=True))
    return f"{names[0] if names else 'value'} {shown[0]}"


def best_text(study: StudyOut, *, named: bool = True) -> str:
    """The best trial's value(s) and number, ``val_rmse 0.994453 (#8)``; ``named=False``:
    the value(s) alone, ``0.994453 (#8)``, for a bar too narrow for the name."""
    best = study.best_trial
    if best is None:
        return "-"
    values = best.values or [best.value]
    shown = named_values(study, values) if named else ", ".join(_shown(values))
    return f"{shown} (#{best.number})"


def _shown(values: Sequence[float | None]) -> list[str]:
    return ["-" if v is None else f"{v:.6g}" for v in values]


def set_apart(study: StudyOut) -> dict[str, int]:
    """The FAIL trials that did not fail of themselves, by what became of them, under the
    names the bar and the log line give them."""
    split = study.fail_breakdown
    return {
        "interrupted": split.interrupted,
        "never run": split.never_run,
        "stopped by the cancel": split.stopped_by_cancel,
        "stopped when the study failed": split.stopped_by_study_failure,
    }


def stop_text(study: StudyOut) -> str:
    """The stop rule's standing while the study runs (``budget.stop``): "patience 23/50" (trials
    since the best improved, of the patience), "goal 0.95", both, or the rule met ("stopping:
    budget.stop.patience met"); "" without a rule, or once the study ended (its end says
    why)."""
    standing = study.progress.stop
    if standing is None or study.end is not None:
        return ""
    if standing.stopped_by is not None:
        return f"stopping: budget.stop.{standing.stopped_by} met, the running trials finish"
    rule = study.definition.get("budget", {}).get("stop") or {}
    parts = []
    if rule.get("patience") is not None:
        parts.append(f"patience {standing.since_improvement}/{rule['patience']}")
    if rule.get("value") is not None:
        parts.append(f"goal {rule['value']:g}")
    return ", ".join(parts)


def fields(study: StudyOut) -> dict[str, Any]:
    """The figures the bar and the log line show. "failed": the FAIL trials that failed of
    themselves; "not_failed": the others, each kind named only when there are some
    (" · interrupted 2"). An answer without the breakdown (an older service's) shows every FAIL
    trial as failed, as it did."""
    counts, apart = study.counts, set_apart(study)
    # without a best trial there is nothing to save: the worker only says why, at once
    saving = awaits_model(study) and study.best_trial is not None
    return {
        "status": "saving the best model" if saving else study.status,
        "complete": counts.get("COMPLETE", 0),
        "pruned": counts.get("PRUNED", 0),
        "failed": max(0, counts.get("FAIL", 0) - sum(apart.values())),
        "running": counts.get("RUNNING", 0),
        "not_failed": "".join(f" · {name} {n}" for name, n in apart.items() if n),
        "best": best_text(study),
        "best_value": best_text(study, named=False),
        "stop": f" · {stop}" if (stop := stop_text(study)) else "",
    }


def make_progress(console: Console) -> Progress:
    return Progress(StudyLine(), console=console, refresh_per_second=4)


BAR_WIDTHS = (10, 40)
"""The narrowest bar worth drawing, and the widest drawn."""
BAR_RANK = 4
"""The bar's rank among ``StudyLine``'s parts: after the pruned count, before the complete."""
NAME_RANK = 6
"""The parts ranked from here up are left out before the study's name is cut."""
NAME_FLOOR = 6
"""The narrowest the study's name is cut to (with an ellipsis) before more parts are left out."""


class Part(NamedTuple):
    """A part of ``StudyLine``'s line: ``rank``, the higher the sooner it is left out; ``short``,
    what stands in for it once it is (kept at any width)."""

    rank: int
    text: Text
    short: Text | None = None


class StudyLine(ProgressColumn):
    """The bar's whole line, as much of it as the console's width holds: its parts are left out
    one by one, the least telling first (ETA, elapsed, the running count, then the name is cut
    with an ellipsis, then the pruned count and the objective's name before the best value, the
    bar...), so that done/total and the best value are always whole (rich's columns, left
    alone, cut the best value mid-number and dropped done/total and the bar first)."""

    def render(self, task: Task) -> RenderableType:
        f = task.fields
        groups = [
            [Part(0, MofNCompleteColumn().render(task))],
            [
                Part(3, Text(f"complete {f['complete']}", style="green")),
                Part(5, Text(f"pruned {f['pruned']}", style="yellow")),
                Part(2, Text(f"failed {f['failed']}", style="red")),
                Part(7, Text(f"running {f['running']}")),
                Part(6, Text(f["not_failed"].removeprefix(" · "), style="dim")),
            ],
            [
                Part(5, Text(f"best {f['best']}"), short=Text(f"best {f['best_value']}")),
                Part(6, Text(f["stop"].removeprefix(" · "), style="dim")),
            ],
            [Part(1, Text(str(f["status"])))],
            [Part(8, TimeElapsedColumn().render(task))],
            [Part(9, Text.assemble("ETA ", TimeRemainingColumn().render(task)))],
        ]
        return _Line(Text(task.description, style="bold"), BarColumn(None).render(task), groups)


class _Line:
    """``StudyLine``'s line, laid out once the width is known: the name, the bar, then the
    groups of parts (one space apart, the parts of a group " · " apart)."""

    def __init__(self, name: Text, bar: RenderableType, groups: list[list[Part]]):
        self.name, self.bar, self.groups = name, bar, groups

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(1, options.max_width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width, (narrowest_bar, widest_bar) = options.max_width, BAR_WIDTHS
        whole, cut = self.name.cell_len, min(self.name.cell_len, NAME_FLOOR)
        steps = [(limit, whole) for limit in range(10, NAME_RANK - 1, -1)]
        steps += [(limit, cut) for limit in range(NAME_RANK, 0, -1)]
        for limit, name_least in steps:  # the parts ranked below the limit are kept
            text = self._text(limit)
            bar = narrowest_bar if limit > BAR_RANK else 0
            taken = 1 + text.cell_len + (bar + 1 if bar else 0)  # the spaces after name and bar
            if name_least + taken <= width:
                break
        name_width = max(1, min(self.name.cell_len, width - taken))
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True, overflow="ellipsis", width=name_width)
        cells: list[RenderableType] = [self.name]
        if bar:
            grid.add_column(width=min(widest_bar, width - taken - name_width + bar))
            cells.append(self.bar)
        grid.add_column(no_wrap=True)
        grid.add_row(*cells, text)
        yield grid

    def _text(self, limit: int) -> Text:
        groups = [
            Text(" · ").join(
                shown
                for part in group
                if (shown := part.text if part.rank < limit else part.short) and shown.plain
            )
            for group in self.groups
        ]
        return Text(" ").join(group for group in groups if group.plain)


def watch(
    client: Client,
    study: StudyOut,
    *,
    console: Console,
    poll: float = 1.0,
    timeout: float = 86400,
    on_outage: Callable[[str], None] | None = None,
    on_idle: Callable[[str], None] | None = None,
) -> StudyOut:
    """Follow the study until it is completed, failed or cancelled (and its best model saved):
    on a terminal, redraw the bar on every poll; elsewhere, print progress lines. An API that
    is away is asked again for a while (``Client.wait``; ``on_outage`` hears of it);
    ``on_idle`` hears that no worker is running while the study waits queued (``NoWorker``)."""
    idle = NoWorker(client, on_idle) if on_idle is not None else None
    if not console.is_terminal:
        return _log(
            client,
            study,
            console=console,
            poll=poll,
            timeout=timeout,
            on_outage=on_outage,
            idle=idle,
        )
    progress = make_progress(console)
    with progress:
        p = study.progress  # drawn as soon as it is added: done/total from the first frame
        task = progress.add_task(study.name, total=p.n_trials, completed=p.done, **fields(study))

        def update(current: StudyOut) -> None:
            progress.update(task, completed=current.progress.done, **fields(current))
            if idle is not None:
                idle(current)

        final = client.wait(
            study.id, poll=poll, timeout=timeout, on_update=update, on_outage=on_outage
        )
        progress.refresh()
    return final


def line(study: StudyOut) -> str:
    """The bar's figures as one line of text."""
    f = fields(study)
    return (
        f"{study.name} {study.progress.done}/{study.progress.n_trials} · complete {f['complete']}"
        f" · pruned {f['pruned']} · failed {f['failed']} · running {f['running']}"
        f"{f['not_failed']} · best {f['best']}{f['stop']} · {f['status']}"
    )


def _log(
    client: Client,
    study: StudyOut,
    *,
    console: Console,
    poll: float,
    timeout: float,
    on_outage: Callable[[str], None] | None,
    idle: NoWorker | None,
) -> StudyOut:
    started = time.monotonic()
    last: dict[str, Any] = {"line": None, "status": None, "at": -LOG_EVERY}

    def update(current: StudyOut) -> None:
        now, text, status = time.monotonic(), line(current), fields(current)["status"]
        due = status != last["status"] or now - last["at"] >= LOG_EVERY
        if text == last["line"] or not due:
            return
        elapsed = timedelta(seconds=round(now - started))
        console.print(f"{text} · {elapsed}", soft_wrap=True, markup=False, highlight=False)
        last.update(line=text, status=status, at=now)

    def heard(current: StudyOut) -> None:
        update(current)
        if idle is not None:
            idle(current)

    update(study)
    return client.wait(study.id, poll=poll, timeout=timeout, on_update=heard, on_outage=on_outage)
