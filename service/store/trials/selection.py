"""The study's chosen trial: the best value, then the relax margin, then the one-SE rule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from regtune.service.store.trials.best import BEST_CANDIDATES, best_choice
from regtune.service.store.trials.one_se import one_se_choice
from regtune.service.store.trials.relax_margin import relax_margin_choice


def chosen_trial_number(
    session: Session,
    optuna_study_id: int,
    direction: str,
    select_rule: str,
    relax_margin: float | None = None,
) -> int | None:
    """The study's best trial: the best value, the unrelaxed trial ``relax_margin`` keeps in its
    place, and under ``objective.select: one_se`` the largest λ within one standard error of
    that along its λ path (its other parameters held; ``chosen_trial`` without its note)."""
    return chosen_trial(session, optuna_study_id, direction, select_rule, relax_margin)[0]


def chosen_trial(
    session: Session,
    optuna_study_id: int,
    direction: str,
    select_rule: str,
    relax_margin: float | None = None,
    *,
    best: Sequence[tuple[int, int]] | None = None,
    limit: int = BEST_CANDIDATES,
) -> tuple[int | None, str | None]:
    """``chosen_trial_number``'s trial, and why it is not the best value's (the notes the
    API's ``selection.note`` gives), if a rule applied. ``best``, ``limit``: as
    ``best_trial_number``'s."""
    chosen = selection(
        session, optuna_study_id, direction, select_rule, relax_margin, best=best, limit=limit
    )
    return chosen.number, chosen.note


@dataclass(frozen=True)
class Selection:
    """The study's chosen trial (``chosen_trial``'s), and the trial it was chosen from."""

    number: int | None
    start: int | None
    """The best value's trial, or the unrelaxed one ``relax_margin`` kept in its place: the
    trial ``select: one_se`` measured from (glmnet's ``lambda.min``); ``number`` without it."""
    note: str | None


def selection(
    session: Session,
    optuna_study_id: int,
    direction: str,
    select_rule: str,
    relax_margin: float | None = None,
    *,
    best: Sequence[tuple[int, int]] | None = None,
    limit: int = BEST_CANDIDATES,
) -> Selection:
    """``chosen_trial``'s choice, with the trial the one-SE rule started from (the report marks
    both λ)."""
    choice = best_choice(session, optuna_study_id, direction, best=best, limit=limit)
    number = choice.number
    if number is None:
        return Selection(None, None, choice.note)
    notes: list[str | None] = [choice.note]
    if relax_margin:
        kept = relax_margin_choice(session, optuna_study_id, direction, number, relax_margin)
        number = kept.number
        notes.append(kept.note)
    start = number
    if select_rule == "one_se":
        one_se = one_se_choice(session, optuna_study_id, direction, number)
        number = one_se.number
        notes.append(one_se.note)
    return Selection(number, start, "; ".join(n for n in notes if n) or None)
