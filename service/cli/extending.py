"""``regtune extend``: more trials for a study, or more time, or configurations to run first."""

from __future__ import annotations

import math
from typing import Annotated, Any

import typer
import yaml

from regtune.service.api.schemas.studies import ExtendedStudy, StudyOut
from regtune.service.cli.output import JsonOpt, KeyOpt, UrlOpt, call, console, err, fmt, print_json
from regtune.service.cli.summary import print_summary
from regtune.service.cli.watching import ProgressPollOpt, WatchOpt, follow
from regtune.service.client.http import Client
from regtune.service.spec.words import quoted
from regtune.service.spec.yaml12 import load_yaml, yaml_problem

MAX_EXTENSION = 1_000_000
"""The most ``extend --trials`` and ``--to`` take: the API's bound of ``n_trials`` and
``n_trials_total`` (``StudyExtension``)."""
MAX_EXTENSION_SECONDS = 30 * 24 * 3600
"""The longest ``extend --timeout``: the API's bound of ``timeout_s``."""


def _finite(seconds: float | None) -> float | None:
    """``--timeout`` as a number of seconds in the API's range: ``inf`` and ``nan`` were a
    traceback from the JSON encoder, and one out of range the API's 422 at ``timeout_s``."""
    if seconds is not None and not math.isfinite(seconds):
        raise typer.BadParameter(f"give a number of seconds, got {seconds}")
    if seconds is not None and not 0 < seconds <= MAX_EXTENSION_SECONDS:
        raise typer.BadParameter(
            f"give a number of seconds above 0 and at most {MAX_EXTENSION_SECONDS:,} (30 days), "
            f"got {seconds:.15g}"
        )
    return seconds


def extend(
    study_id: str,
    trials: Annotated[
        int | None,
        typer.Option(
            "--trials",
            min=1,
            max=MAX_EXTENSION,
            help="How many trials more (budget.n_trials grows by K).",
        ),
    ] = None,
    to: Annotated[
        int | None,
        typer.Option(
            "--to",
            min=1,
            max=MAX_EXTENSION,
            help="The budget in all instead (budget.n_trials becomes N; safe to repeat: the "
            "budget it is already changes nothing).",
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            callback=_finite,
            help="A new time budget in seconds, counted from now (default: the definition's "
            "budget.timeout_s, if any, counted from now).",
        ),
    ] = None,
    point: Annotated[
        list[str] | None,
        typer.Option(
            "--point",
            help="A configuration to run first, as a YAML mapping: --point '{lambda: 0.01, "
            "l1_ratio: 0.5}' (repeatable; each is a trial of the budget; without --trials or "
            "--to the budget grows by one per point, by a path's trials for one that leaves "
            "lambda out in a λ-path study, which runs that path).",
        ),
    ] = None,
    watch: WatchOpt = False,
    poll: ProgressPollOpt = 1.0,
    url: UrlOpt = None,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Give a study more trials; a completed or cancelled one goes on from its trials.

    budget.n_trials grows by K (--trials K), or becomes N (--to N); a completed or cancelled
    study is queued again, its sampler going on from every trial it has. Each --point is a
    configuration it runs first (sampler.points_to_evaluate), a trial of the grown budget (a
    path's trials for one that leaves lambda out in a λ-path study). A failed study cannot be
    extended.

    With --watch: exit 1 if it fails, 2 if cancelled, 75 if the API stays away; Ctrl-C stops
    watching, not the study: 130.
    """
    from regtune.service.client.watch import EXIT_CODES

    points = [_point(given) for given in point or ()]
    if trials is not None and to is not None:
        raise typer.BadParameter(
            "give --trials K (how many more) or --to N (the budget in all), not both"
        )
    if trials is None and to is None and not points:
        raise typer.BadParameter(
            "give --trials K (how many more) or --to N (the budget in all), or --point (one "
            "more per point)"
        )

    def extend_and_follow(client: Client) -> tuple[ExtendedStudy, StudyOut]:
        done = client.extend(
            study_id, trials, n_trials_total=to, timeout_s=timeout, points=points or None
        )
        if not as_json:
            console.print(_extended(done, points=len(points)))
        if not watch:
            return done, done.study
        return done, follow(client, done.study, console=err if as_json else console, poll=poll)

    done, study = call(
        url,
        key,
        extend_and_follow,
        unanswered=f"study {study_id} may or may not be extended; regtune show {study_id} "
        "says its budget"
        + (
            " (run this again: --to changes nothing the second time)"
            if to is not None
            else f" (regtune extend {study_id} --to N can be repeated safely)"
        ),
    )
    if as_json:
        print_json(study if watch else done)
    elif watch:
        print_summary(study, warnings=False)
    if watch:
        raise typer.Exit(EXIT_CODES.get(study.status, 1))


def _point(given: str) -> dict[str, Any]:
    """One ``--point``: a YAML mapping of parameter names to values (the service checks them)."""
    try:
        found = load_yaml(given)  # reading 1e-3 as a number, as the API reads a definition
    except yaml.YAMLError as exc:
        raise typer.BadParameter(
            f"--point {quoted(given)} is not valid YAML: {yaml_problem(exc)}"
        ) from None
    if not isinstance(found, dict) or not found:
        raise typer.BadParameter(
            f"--point {quoted(given)}: give a mapping of searched parameters to values, e.g. "
            "'{lambda: 0.01, l1_ratio: 0.5}'"
        )
    return {str(name): value for name, value in found.items()}


def _extended(done: ExtendedStudy, *, points: int = 0) -> str:
    """What an extension did, in a line."""
    study = done.study
    if not done.extended:
        return (
            f"study {study.id} unchanged: budget.n_trials is {study.progress.n_trials} "
            f"already, {study.status}"
        )
    grown = f"budget.n_trials {done.n_trials_before} → {study.progress.n_trials}"
    left = study.progress.n_trials - study.progress.done
    if done.reopened and left != study.progress.n_trials - done.n_trials_before:
        grown += f" ({left} to run: {study.progress.done} done)"  # it ended below its budget
    timeout = study.definition.get("budget", {}).get("timeout_s")
    until = f", budget.timeout_s {fmt(timeout)} s from now" if timeout else ""
    if done.reopened:
        how = f"reopened (was {done.status_before}), now {study.status}"
    else:
        how = f"still {study.status}"
    queued = f", {points} point{'' if points == 1 else 's'} queued first" if points else ""
    return f"study {study.id} extended: {grown}{until}{queued}, {how}"
