"""A study's progress while it runs: complete / pruned / failed of n, best value, elapsed, ETA.

"failed" counts the trials that failed of themselves (``StudyOut.fail_breakdown``), in red; the
other FAIL trials follow, dim and named for what became of them ("interrupted 2"), only when
there are some: a pool whose workers are restarted hands trials back, and those run again.

On a terminal, a live bar. Elsewhere (a CI log, a pipe), where a bar cannot redraw, a line when
the progress changes (at most one every ``LOG_EVERY`` seconds, and at every change of status),
each whole, however narrow the log."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from regtune.service.api.schemas import StudyOut
from regtune.service.client.http import Client, awaits_model
from regtune.service.spec.enums import StudyStatus

EXIT_CODES: dict[str, int] = {
    StudyStatus.COMPLETED: 0,
    StudyStatus.FAILED: 1,
    StudyStatus.CANCELLED: 2,
}
"""``regtune submit --watch`` exits with these; a failed study is non-zero, as CI expects."""


LOG_EVERY = 10.0
"""Seconds between progress lines outside a terminal (a change of status prints at once)."""


def best_text(study: StudyOut) -> str:
    best = study.best_trial
    if best is None:
        return "-"
    values = best.values or [best.value]
    shown = ", ".join("-" if v is None else f"{v:.6g}" for v in values)
    return f"{shown} (#{best.number})"


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
    return {
        "status": "saving the best model" if awaits_model(study) else study.status,
        "complete": counts.get("COMPLETE", 0),
        "pruned": counts.get("PRUNED", 0),
        "failed": max(0, counts.get("FAIL", 0) - sum(apart.values())),
        "running": counts.get("RUNNING", 0),
        "not_failed": "".join(f" · {name} {n}" for name, n in apart.items() if n),
        "best": best_text(study),
        "stop": f" · {stop}" if (stop := stop_text(study)) else "",
    }


def make_progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "[green]complete {task.fields[complete]}[/] · [yellow]pruned {task.fields[pruned]}[/]"
            " · [red]failed {task.fields[failed]}[/] · running {task.fields[running]}"
            "[dim]{task.fields[not_failed]}[/]"
        ),
        TextColumn("best {task.fields[best]}[dim]{task.fields[stop]}[/]"),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        refresh_per_second=4,
    )


def watch(
    client: Client,
    study: StudyOut,
    *,
    console: Console,
    poll: float = 1.0,
    timeout: float = 86400,
    on_outage: Callable[[str], None] | None = None,
) -> StudyOut:
    """Follow the study until it is completed, failed or cancelled (and its best model saved):
    on a terminal, redraw the bar on every poll; elsewhere, print progress lines. An API that
    is away is asked again for a while (``Client.wait``; ``on_outage`` hears of it)."""
    if not console.is_terminal:
        return _log(client, study, console=console, poll=poll, timeout=timeout, on_outage=on_outage)
    progress = make_progress(console)
    with progress:
        task = progress.add_task(study.name, total=study.progress.n_trials, **fields(study))

        def update(current: StudyOut) -> None:
            progress.update(task, completed=current.progress.done, **fields(current))

        update(study)
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

    update(study)
    return client.wait(study.id, poll=poll, timeout=timeout, on_update=update, on_outage=on_outage)
