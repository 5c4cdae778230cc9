"""``regtune workers``: the live workers and what each is doing."""

from __future__ import annotations

from rich.table import Table

from regtune.service.api.schemas.workers import WorkerOut
from regtune.service.cli.output import (
    JsonOpt,
    KeyOpt,
    UrlOpt,
    call,
    console,
    fmt,
    id_column,
    print_json,
    print_table,
)
from regtune.service.spec.words import counted

WITHOUT_A_TRIAL = {"setting_up": "setting up", "saving_best_model": "saving model"}
"""The trial column of a worker running none, by its ``activity`` (idle: ``-``)."""


def _doing(worker: WorkerOut) -> str:
    if worker.trial_number is not None:
        return fmt(worker.trial_number)
    return WITHOUT_A_TRIAL.get(worker.activity, "-")


def list_workers(url: UrlOpt = None, key: KeyOpt = None, as_json: JsonOpt = False) -> None:
    """List live workers: host, pid, the trial each is running (or setting up a claimed trial,
    or saving a study's best model), last heartbeat.

    A tenant's key lists only the workers at work on its own studies."""

    live, whole_pool = call(url, key, lambda client: client.workers_seen())
    if as_json:
        print_json(live)
        return
    table = Table(
        id_column("id", [w.id for w in live]),
        "host",
        "pid",
        id_column("study", [w.study_id or "-" for w in live]),
        "trial",
        "last heartbeat (UTC)",
    )
    for w in live:
        table.add_row(
            w.id,
            w.host,
            str(w.pid),
            w.study_id or "-",
            _doing(w),
            fmt(w.last_heartbeat),
        )
    print_table(table)
    console.print(_counted(len(live), whole_pool=whole_pool))


def _counted(listed: int, *, whole_pool: bool) -> str:
    """How many workers the table holds, and of what: the pool (the admin key, or no keys), or
    only those at work on the key's tenant's studies (``X-Regtune-Workers``), so that none of
    these is not read as no worker at all."""
    if whole_pool:
        return counted(listed, "live worker")
    return f"{counted(listed, 'worker')} at work on your studies (a tenant's key sees only those)"
