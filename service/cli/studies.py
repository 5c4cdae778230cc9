"""Commands about studies: submit, list, show, trials, cancel, remove, best, report (``extend``
is ``extending``)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table
from rich.text import Text

from regtune.service.api.schemas.studies import StudyOut
from regtune.service.api.schemas.trials import TrialPage
from regtune.service.cli.output import (
    JsonOpt,
    KeyOpt,
    OffsetOpt,
    TrialOffsetOpt,
    UrlOpt,
    call,
    console,
    err,
    fail,
    fmt,
    interrupted,
    listing,
    params,
    print_json,
    print_table,
    shown_of,
)
from regtune.service.cli.summary import numbered, print_best, print_summary, print_warnings
from regtune.service.cli.watching import (
    MAX_POLL,
    MIN_POLL,
    ProgressPollOpt,
    WatchOpt,
    follow,
    stopped_rewriting,
)
from regtune.service.client.best_model import no_model
from regtune.service.client.http import Client
from regtune.service.spec.definition import NAME_PATTERN
from regtune.service.spec.enums import ACTIVE
from regtune.service.spec.yaml12 import load_yaml


def submit(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="Definition (YAML or JSON).")
    ],
    watch: WatchOpt = False,
    poll: ProgressPollOpt = 1.0,
    url: UrlOpt = None,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit a study definition; with --watch, follow it until it ends.

    With --watch: exit 1 if it fails, 2 if cancelled, 75 if the API stays away; Ctrl-C stops
    watching, not the study: 130.
    """
    from regtune.service.client.watch import EXIT_CODES

    try:  # once: a pipe (/dev/stdin) is empty when read again
        text = file.read_bytes()
    except OSError as exc:
        fail(exc)
    unanswered = _unanswered_submission(_definition_name(text))

    def submit_and_follow(client: Client) -> StudyOut:
        try:
            study = client.submit(text, as_json=file.suffix.lower() == ".json")
        except KeyboardInterrupt:
            raise interrupted(unanswered) from None
        if not as_json:
            console.print(
                f"created study [bold]{study.id}[/bold] ({study.name}), status {study.status}"
            )
        print_warnings(study, err)  # on stderr, so that --json's stdout stays pure JSON
        if watch:
            study = follow(client, study, console=err if as_json else console, poll=poll)
        return study

    study = call(url, key, submit_and_follow, unanswered=unanswered)
    if as_json:
        print_json(study)
    elif watch:
        print_summary(study, warnings=False)  # said at creation
    if watch:
        raise typer.Exit(EXIT_CODES.get(study.status, 1))


def _definition_name(text: bytes) -> str | None:
    """The study name the definition ``text`` gives, if it gives one a study can have (else
    None: the API says what is wrong with a text this cannot read)."""
    try:
        definition = load_yaml(text)
    except yaml.YAMLError:
        return None
    name = definition.get("name") if isinstance(definition, dict) else None
    return name if isinstance(name, str) and re.fullmatch(NAME_PATTERN, name) else None


def _unanswered_submission(name: str | None) -> str:
    """What a submission stopped before its answer leaves unknown, and which listing tells."""
    if name is None:  # the file names no study a listing can look for: the newest come first
        return "the study may or may not exist; regtune ls lists it first if it was created"
    return (
        f"study {name!r} may or may not exist; regtune ls --name {name} lists it if it was created"
    )


def watch_study(
    study_id: str,
    poll: ProgressPollOpt = 1.0,
    url: UrlOpt = None,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Follow a study until it ends, as submit --watch does.

    Exit 1 if it fails, 2 if cancelled, 75 if the API stays away; Ctrl-C stops watching, not the
    study: 130.
    """
    from regtune.service.client.watch import EXIT_CODES

    where = err if as_json else console
    study = call(
        url, key, lambda client: follow(client, client.study(study_id), console=where, poll=poll)
    )
    if as_json:
        print_json(study)
    else:
        print_summary(study)
    raise typer.Exit(EXIT_CODES.get(study.status, 1))


def list_studies(
    status: Annotated[str | None, typer.Option(help="Filter by status.")] = None,
    tenant: Annotated[
        str | None, typer.Option(help="Only this tenant's (the admin key lists every tenant's).")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Only the study of this name (one per tenant).")
    ] = None,
    offset: OffsetOpt = 0,
    limit: Annotated[int, typer.Option(min=1, help="At most this many (newest first).")] = 50,
    url: UrlOpt = None,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List studies, newest first; the admin key's listing of every tenant's says whose each
    one is."""
    page, whose = call(  # whose: the listing holds every tenant's (the admin key's)
        url,
        key,
        lambda client: client.studies_seen(
            status=status, tenant=tenant, name=name, offset=offset, limit=limit
        ),
    )
    if as_json:
        print_json(page)
        return
    items = page.items
    headers = ["tenant"] if whose else []
    headers += ["status", "done", "running", "created (UTC)"]
    table = listing([s.id for s in items], *headers)
    for s in items:
        table.add_row(
            s.id,
            s.name,
            *([s.tenant] if whose else []),
            s.status,
            f"{s.done}/{s.n_trials}",
            str(s.running),
            fmt(s.created_at),
        )
    print_table(table)
    if page.total > len(page.items):
        console.print(
            shown_of(len(page.items), page.total, "study", offset=offset, plural="studies")
        )
    elif page.total == 0 and name is not None:  # an answer, not an empty table to puzzle over
        console.print(Text(f"no study named {name!r}"))


def show(study_id: str, url: UrlOpt = None, key: KeyOpt = None, as_json: JsonOpt = False) -> None:
    """Show a study: status, counts, best trial, Pareto front, saved model; to the admin key,
    its tenant."""
    study, whose = call(url, key, lambda client: client.study_seen(study_id))
    if as_json:
        print_json(study)
        return
    print_summary(study, whose=whose)


def trials(
    study_id: str,
    state: Annotated[
        str | None, typer.Option(help="COMPLETE, PRUNED, FAIL, RUNNING or WAITING (any case).")
    ] = None,
    offset: TrialOffsetOpt = 0,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 50,
    url: UrlOpt = None,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List a study's trials: state, value(s), non-zero weights, epochs, params.

    A trial over ``objective.max_nonzero`` says so beside its value: it is never the best.
    A trial that ran one of the definition's points_to_evaluate says which: 0 (point 0)."""

    def read(client: Client) -> tuple[TrialPage, StudyOut | None]:
        page = client.trials(study_id, state=state, offset=offset, limit=limit)
        return page, None if as_json else client.study(study_id)  # the table reads its definition

    from regtune.service.client.watch import named_values

    page, study = call(url, key, read)
    if study is None:
        print_json(page)
        return
    restores = _restores_best(study)
    table = Table("#", "state", "value", "non-zero", "epochs", "params")
    for t in page.items:
        attrs = t.user_attrs
        values = t.values or []  # several: named as show and watch name them
        value = named_values(study, values) if len(values) > 1 else fmt(t.value)
        if t.value is None and t.state == "COMPLETE" and attrs.get("diverged"):
            value = "diverged"  # its value is ±inf, which JSON carries as null: not "-", no value
        elif attrs.get("feasible") is False:  # never the best, however good its value
            value = f"{value} (over max_nonzero)"
        table.add_row(
            numbered(t.number, attrs),
            t.state,
            value,
            fmt(attrs.get("n_nonzero")),
            _epochs(attrs, kept_best=restores and t.state == "COMPLETE"),
            Text(params(t.params)),
        )
    print_table(table)
    for t in page.items:  # a FAIL row says nothing of why: the reason follows the table
        if t.state == "FAIL" and t.user_attrs.get("error"):
            console.print(Text.assemble((f"#{t.number} FAIL: ", "red"), str(t.user_attrs["error"])))
    console.print(shown_of(len(page.items), page.total, "trial", offset=offset))


def _restores_best(study: StudyOut) -> bool:
    """Whether the study's trials end with their best epoch's weights (``training.early_stopping``
    with ``restore_best``, the default): a COMPLETE trial's value is then its best epoch's."""
    stopping = study.definition.get("training", {}).get("early_stopping")
    return bool(stopping) and stopping.get("restore_best", True) is True


def _epochs(attrs: dict[str, Any], *, kept_best: bool) -> str:
    """The epochs a trial ran; for one that early stopping ended, that it did; and its best
    epoch (``best_epoch``) where its value is that epoch's and not the last's (``kept_best``: a
    COMPLETE trial whose weights ``restore_best`` restored; a diverged trial's value is ±inf,
    no epoch's). Without ``restore_best`` the value is the last epoch's, and a best epoch
    beside it would read as the value's: a trial that stopped early is "26, stopped early"."""
    ran, best = attrs.get("epochs_run"), attrs.get("best_epoch")
    if attrs.get("stopped_early") is True:
        stopped = f"{fmt(ran)}, stopped early"
        return f"{stopped} (best {fmt(best)})" if kept_best else stopped
    earlier = isinstance(ran, int) and isinstance(best, int) and 0 < best < ran
    if kept_best and earlier and attrs.get("diverged") is not True:
        return f"{ran} (best {best})"
    return fmt(ran)


def cancel(study_id: str, url: UrlOpt = None, key: KeyOpt = None, as_json: JsonOpt = False) -> None:
    """Cancel a study: no new trials; running ones stop within a heartbeat interval.

    A running trial's worker sees the cancel on its next heartbeat (REGTUNE_HEARTBEAT_INTERVAL,
    5 s by default) and stops the trial at the next minibatch step or solver iteration."""
    study = call(
        url,
        key,
        lambda client: client.cancel(study_id),
        unanswered=f"study {study_id} may or may not be cancelled; regtune show {study_id} "
        "says its status",
    )
    if as_json:
        print_json(study)
    else:
        console.print(f"study {study.id} {study.status}")


def remove(study_id: str, url: UrlOpt = None, key: KeyOpt = None, as_json: JsonOpt = False) -> None:
    """Delete a study and its Optuna study."""
    call(
        url,
        key,
        lambda client: client.delete(study_id),
        unanswered=f"study {study_id} may or may not be deleted; regtune show {study_id} "
        "answers 404 once it is",
    )
    if as_json:
        print_json({"id": study_id, "deleted": True})
    else:
        console.print(f"study {study_id} deleted")


def best(
    study_id: str,
    download: Annotated[
        Path | None,
        typer.Option("--download", "-d", dir_okay=False, help="Save the best model here."),
    ] = None,
    url: UrlOpt = None,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The best trial (params, value, test metrics); --download saves its model (safetensors).

    Exit 1 when the study has no saved model; its best trial, if any, is still shown.
    """
    # No best trial; or one, but the study has not completed (running, cancelled, failed) or
    # its model could not be saved: the reason on stderr, so ``regtune best ID && deploy``
    # deploys nothing.
    study = call(url, key, lambda client: client.study(study_id, fresh=True))
    missing = no_model(study)
    saved = None
    if download and missing is None:
        saved = call(url, key, lambda client: client.download_best_model(study_id, download))
    best_trial = study.best_trial
    if as_json:
        print_json(
            {
                "study_id": study.id,
                "best_trial": best_trial,
                "best_model": study.best_model,
                "downloaded": str(saved) if saved else None,
            }
        )
    elif best_trial:
        print_best(study, best_trial)
    if saved and not as_json:
        console.print(f"saved {saved}")
    if missing:
        fail(missing)


def report(
    study_id: str,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            dir_okay=False,
            help="Write the page here (default: report-ID.html, ID the study's id).",
        ),
    ] = None,
    open_it: Annotated[bool, typer.Option("--open", help="Open it in a web browser.")] = False,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch", "-w", help="Rewrite it while the study runs (the open page reloads itself)."
        ),
    ] = False,
    poll: Annotated[
        float,
        typer.Option(min=MIN_POLL, max=MAX_POLL, help="Seconds between rewrites with --watch."),
    ] = 10.0,
    url: UrlOpt = None,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The study report: one self-contained HTML page of plots (works offline)."""
    path = out or Path(f"report-{study_id}.html")
    call(url, key, lambda client: client.report(study_id, path))
    if not as_json:
        console.print(f"wrote {path}")
    if open_it:
        import webbrowser

        if not webbrowser.open(path.resolve().as_uri()):  # no browser here (ssh, a server)
            err.print(
                Text.assemble(
                    ("warning: ", "bold yellow"),
                    f"no web browser to open {path} with here; open it where one is (set "
                    "BROWSER to choose one)",
                )
            )
    try:
        while watch and call(url, key, lambda client: client.study(study_id)).status in ACTIVE:
            time.sleep(poll)
            call(url, key, lambda client: client.report(study_id, path))
    except KeyboardInterrupt:
        raise stopped_rewriting(study_id, path) from None
    if watch:
        call(url, key, lambda client: client.report(study_id, path))  # the final page
        if not as_json:
            console.print(f"the study has ended; wrote {path}")
    if as_json:
        print_json({"id": study_id, "path": str(path)})
