"""Giving a study more trials, as Optuna's ``optimize`` called again on a study does: its budget
grows, and one that completed or was cancelled opens again with its trials, so the sampler goes
on from everything it has seen. No HTTP here."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, update

from regtune.service.errors import Conflict, FieldProblem, StudyNotExtendable
from regtune.service.spec.definition import StudySpec
from regtune.service.spec.enums import ACTIVE, StudyStatus
from regtune.service.spec.points import MAX_POINTS
from regtune.service.store.clock import utcnow
from regtune.service.store.db import rowcount, transaction
from regtune.service.store.optuna_db.internals.inserts import add_trials
from regtune.service.store.repos import best_model, studies, study_creation
from regtune.service.store.scheduling.claims import stopping
from regtune.service.store.tables import StudyRow

REOPENED = (StudyStatus.COMPLETED, StudyStatus.CANCELLED)
"""Statuses an extension opens again (queued: workers claim it as any queued study)."""
ATTEMPTS = 20
"""Tries at the conditional UPDATE: each one lost means the study changed meanwhile (a claim
started it, a finish completed it, another extension landed), which happens a few times in a
study's life, not on every try."""


@dataclass(frozen=True)
class Extension:
    """What an extension did: the study's row after it, and its budget and status before."""

    row: StudyRow
    n_trials_before: int
    status_before: str
    extended: bool = True
    """False when ``n_trials_total`` was the budget already: nothing changed."""

    @property
    def reopened(self) -> bool:
        return self.extended and self.status_before in REOPENED


def extend(
    study_id: str,
    *,
    n_trials: int | None = None,
    n_trials_total: int | None = None,
    timeout_s: float | None = None,
    points: list[dict[str, Any]] | None = None,
    tenant: studies.Reach = "default",
    engine: Engine | None = None,
) -> Extension:
    """Grow the study's budget by ``n_trials``, or to ``n_trials_total`` (one of the two); a
    completed or cancelled study opens again.

    ``n_trials_total`` makes a request that can be repeated, as Katib's ``maxTrialCount``: the
    budget in all, worked out from the row the UPDATE is conditional on. The budget it is
    already changes nothing (``extended`` False, ``timeout_s`` ignored too: a repeat of an
    answered request must not start the deadline again), if its ``points`` are the last ones
    the definition was given (``given_already``: the repeat's); a smaller one is a
    ``Conflict``, since a budget only grows.

    ``timeout_s``: a new time budget, counted from now, stored in the definition; left out, the
    definition's own (if it has one) is counted from now, so a study opened again after its
    first deadline does not end at once. A failed study is ``StudyNotExtendable``.

    One conditional UPDATE of the row as read (its status, ``n_trials`` and the stop rule
    that stopped it) decides: a finish that completes or stops the study in between makes it
    match nothing, and the row is read again (then it is opened again); one that comes after
    sees the budget grown. So at rest exactly the new ``n_trials`` trials are COMPLETE or
    PRUNED, unless the deadline or the stop rule (``budget.stop``) ends the study first.

    A study its stop rule stopped opens again with its patience counted anew from now; one
    whose best value reaches ``budget.stop.value`` is ``StudyNotExtendable`` (the first trial
    to finish would stop it again).

    ``points``: configurations to run first, as ``sampler.points_to_evaluate`` gives them (the
    caller checked them against the study's space). Each is a trial of the grown budget, so the
    budget must grow by at least as many (a ``Conflict`` if another extension left less to
    grow by, or none where they are not the repeat's); they are appended to the stored
    definition's points and queued as Optuna's WAITING trials in the UPDATE's transaction, so no
    claim can see the budget grown without them, and a lost UPDATE queues nothing.
    """
    for _ in range(ATTEMPTS):
        row = studies.read_row_now(study_id, tenant=tenant)
        if row.status == StudyStatus.FAILED:
            raise StudyNotExtendable(
                f"study {study_id!r} has failed: the errors that ended it "
                f"({row.n_errors} against budget.max_retries {row.max_retries}) would end it "
                "again; only a queued, running, completed or cancelled study can be extended. "
                "Submit its definition anew (fix what failed first)"
            )
        more = _more(row, n_trials=n_trials, n_trials_total=n_trials_total)
        if more == 0 and (not points or given_already(row.spec, points)):
            return Extension(
                row, n_trials_before=row.n_trials, status_before=row.status, extended=False
            )
        _goal_not_reached(row)
        _room_for(row, points or [], more)
        grew = _grew(
            row,
            n_trials=more,
            timeout_s=timeout_s,
            points=points or [],
            now=utcnow(),
            engine=engine,
        )
        if grew:
            studies.forget(study_id)
            after = studies.read_row_now(study_id, tenant=tenant)
            return Extension(after, n_trials_before=row.n_trials, status_before=row.status)
    raise Conflict(f"study {study_id!r} kept changing while it was extended; try again")


def _goal_not_reached(row: StudyRow) -> None:
    """A study whose best value reaches its ``budget.stop.value`` is ``StudyNotExtendable``:
    the first trial to finish would stop it again."""
    rule = stopping.Rule.of(row.spec)
    if rule is None or row.best_value is None or not rule.reached(row.best_value):
        return
    raise StudyNotExtendable(
        f"study {row.id!r} cannot be extended: its best value {row.best_value:g} (trial "
        f"#{row.best_trial}) already reaches budget.stop.value {rule.stop.value:g}, so the "
        "first trial to finish would stop it again; submit a new study with another goal"
    )


def _room_for(row: StudyRow, points: list[dict[str, Any]], more: int) -> None:
    """``points`` need the budget to grow by as many, and the stored definition may hold
    ``MAX_POINTS`` in all: a ``Conflict`` where the row as read leaves less (the caller checked
    the row it read before; another extension landed since)."""
    if not points:
        return
    if more < len(points):
        raise Conflict(
            f"study {row.id!r} has budget.n_trials {row.n_trials} now: the extension grows it by "
            f"{more}, fewer than its {len(points)} points (each is a trial of the budget)"
        )
    given = len(_given(row.spec))
    if given + len(points) > MAX_POINTS:
        raise Conflict(
            f"study {row.id!r} has {given} points to evaluate now: {len(points)} more would "
            f"make more than {MAX_POINTS}"
        )


def given_already(spec: dict[str, Any], points: list[dict[str, Any]]) -> bool:
    """Whether ``points`` are the last points the stored definition was given, as an answered
    ``n_trials_total`` request appended them: its repeat, which changes nothing."""
    given = _given(spec)
    return 0 < len(points) <= len(given) and given[-len(points) :] == points


def _given(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The points a stored definition has given already."""
    return list(spec["sampler"].get("points_to_evaluate") or ())


def _more(row: StudyRow, *, n_trials: int | None, n_trials_total: int | None) -> int:
    """How many trials the budget grows by: ``n_trials``, or what ``n_trials_total`` adds to
    the row's budget."""
    if n_trials_total is None:
        if n_trials is None:
            raise TypeError("extend takes n_trials or n_trials_total")
        return n_trials
    if n_trials_total < row.n_trials:
        stop = "" if row.status not in ACTIVE else " (cancel the study to stop it)"
        said = (
            f"study {row.id!r} has budget.n_trials {row.n_trials} already: n_trials_total "
            f"{n_trials_total} would lower it, and a budget only grows{stop}"
        )
        raise Conflict(said, [FieldProblem(path="n_trials_total", rule=said)])
    return n_trials_total - row.n_trials


def _grew(
    row: StudyRow,
    *,
    n_trials: int,
    timeout_s: float | None,
    now: datetime,
    engine: Engine | None,
    points: list[dict[str, Any]] | None = None,
) -> bool:
    """The UPDATE, if the row is still as read; True if it was. The note optuna-dashboard shows
    is written anew for the grown definition, opening a study again sets its best model aside
    (``best_model.set_aside``), and ``points`` are queued, in the same transaction."""
    points = points or []
    queued = []
    if points:
        space = StudySpec.from_stored(row.spec).search_space
        queued = study_creation.point_trials(space, points, first=len(_given(row.spec)))
    spec = _grown_definition(
        row.spec, n_trials=row.n_trials + n_trials, timeout_s=timeout_s, points=points
    )
    budget_s = spec["budget"].get("timeout_s")
    values: dict[str, Any] = {
        "n_trials": spec["budget"]["n_trials"],
        "spec": spec,
        "deadline": now + timedelta(seconds=budget_s) if budget_s else None,
        "updated_at": now,
    }
    reopen = row.status not in ACTIVE
    if reopen:  # its end, and a best model's error, were the last end's
        values |= {"status": StudyStatus.QUEUED, "finished_at": None, "error": None}
    if reopen or row.stopped_by is not None:  # a stop rule's patience counts anew from here
        values |= {"stopped_by": None, "best_at": StudyRow.n_done}
    with transaction(engine) as session:
        won = rowcount(
            session.execute(
                update(StudyRow)
                .where(
                    StudyRow.id == row.id,
                    StudyRow.status == row.status,
                    StudyRow.n_trials == row.n_trials,
                    _same(StudyRow.stopped_by, row.stopped_by),
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        )
        if won == 1:
            study_creation.rewrite_note(session, row, spec)
        if won == 1 and reopen and row.optuna_study_id is not None:
            best_model.set_aside(session, row.optuna_study_id)
        if won == 1 and queued:
            if row.optuna_study_id is None:  # its creation never finished: nothing to run them
                raise Conflict(f"study {row.id!r} is still being created; try again")
            add_trials(session, row.optuna_study_id, queued)
    return won == 1


def _same(column: Any, value: str | None) -> Any:
    return column.is_(None) if value is None else column == value


def _grown_definition(
    stored: dict[str, Any],
    *,
    n_trials: int,
    timeout_s: float | None,
    points: list[dict[str, Any]],
) -> dict[str, Any]:
    """The stored definition with the budget now in force, and the points it was given, as
    ``definition`` shows it."""
    spec = copy.deepcopy(stored)
    spec["budget"]["n_trials"] = n_trials
    if timeout_s is not None:
        spec["budget"]["timeout_s"] = timeout_s
    if points:
        spec["sampler"]["points_to_evaluate"] = [*_given(spec), *copy.deepcopy(points)]
    return spec
