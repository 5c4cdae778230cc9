"""Creating a study: its row, its Optuna study, the dashboard's note and its points."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import optuna
from optuna.storages import RDBStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import Engine, select, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from regtune.service.errors import FieldProblem, StudyNameTaken
from regtune.service.settings import get_settings
from regtune.service.spec.definition import StudySpec
from regtune.service.spec.enums import StudyStatus
from regtune.service.spec.objective import objective_directions, objective_names
from regtune.service.spec.points import optuna_params
from regtune.service.spec.space import SearchSpace
from regtune.service.store.clock import utcnow
from regtune.service.store.db import rowcount, transaction
from regtune.service.store.optuna_db.attrs import POINT_ATTR
from regtune.service.store.optuna_db.internals.handles import engine_of, storage_of, study_id_of
from regtune.service.store.optuna_db.internals.inserts import add_trials
from regtune.service.store.optuna_db.names import optuna_name
from regtune.service.store.optuna_db.notes import rewrite_study_note, save_new_study_note
from regtune.service.store.repos import datasets
from regtune.service.store.repos.studies import definition_of, forget
from regtune.service.store.scheduling.retries import get_storage
from regtune.service.store.tables import StudyRow


def _note(study_id: str, name: str, definition: dict[str, Any], api_url: str | None) -> str:
    """What optuna-dashboard shows of a study: its definition and a link back to the API."""
    import yaml

    link = f"{api_url.rstrip('/')}/v1/studies/{study_id}" if api_url else f"/v1/studies/{study_id}"
    body = yaml.safe_dump(definition, sort_keys=False, allow_unicode=True)
    return f"# {name}\n\nregtune study `{study_id}` — [{link}]({link})\n\n```yaml\n{body}```\n"


def rewrite_note(session: Session, row: StudyRow, definition: dict[str, Any]) -> None:
    """The study's note anew for the ``definition`` it now stores (an extension's budget and
    points), in ``session``'s transaction: the dashboard shows what the study runs by."""
    if row.optuna_study_id is None:  # its creation never finished: no note yet
        return
    note = _note(row.id, row.name, definition, get_settings().public_url)
    rewrite_study_note(session, row.optuna_study_id, note)


def create_study(
    spec: StudySpec,
    *,
    tenant: str = "default",
    api_url: str | None = None,
    slots_per_claim: int | None = None,
    engine: Engine | None = None,
    storage: RDBStorage | None = None,
) -> StudyRow:
    """Store the definition and create its Optuna study; the name is unique per tenant.
    ``slots_per_claim``: what one worker's claim takes (``cost.slots_per_claim``), stored for
    the autoscaler.

    The definition is stored once, in the study's row; the Optuna study gets its objectives
    and the note optuna-dashboard shows.

    The regtune row comes first, without an Optuna study id (workers do not claim such a
    row), then the Optuna study, then the id is set by a conditional UPDATE. A process killed in
    between leaves a row without an Optuna study id, which the sweep removes with whatever
    Optuna study it had (``sweep.remove_unfinished_studies``); never an Optuna study nobody
    knows about.

    A sampler seed the definition leaves out (or its whole sampler) is drawn here, the one door
    every study comes in by, and stored with it: each study proposes its own trials, and the
    definition it stored runs it again (reading it back never draws: ``StudySpec.from_stored``).
    """
    study_id = uuid.uuid4().hex[:16]
    spec = spec.model_copy(update={"sampler": spec.sampler.seeded()})
    definition = spec.to_stored()
    now = utcnow()
    row = StudyRow(
        id=study_id,
        tenant=tenant,
        name=spec.name,
        optuna_name=optuna_name(spec.name, study_id),
        optuna_study_id=None,
        spec=definition,
        status=StudyStatus.QUEUED,
        n_trials=spec.budget.n_trials,
        max_parallel=spec.budget.max_parallel,
        slots_per_claim=slots_per_claim,
        max_retries=spec.budget.max_retries,
        n_running=0,
        n_done=0,
        n_claims=0,
        n_errors=0,
        deadline=now + timedelta(seconds=spec.budget.timeout_s) if spec.budget.timeout_s else None,
        created_at=now,
        updated_at=now,
    )
    taken = f"a study named {spec.name!r} already exists"
    try:
        with transaction(engine) as session:
            existing = session.scalar(
                select(StudyRow.id).where(StudyRow.tenant == tenant, StudyRow.name == spec.name)
            )
            if existing:
                said = (
                    f"{taken} (id {existing}); give this one another name, or remove that one "
                    f"first (regtune rm {existing}; DELETE /v1/studies/{existing})"
                )
                raise StudyNameTaken(said, [FieldProblem(path="name", rule=said)])
            session.add(row)
            session.flush()  # SQLite: the write lock is ours; nothing deletes the data now
            datasets.hold_for_a_study(session, spec, tenant=tenant)
    except IntegrityError as exc:  # created meanwhile by another request
        raise StudyNameTaken(taken, [FieldProblem(path="name", rule=taken)]) from exc
    storage = storage or get_storage()
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=row.optuna_name,
            directions=[StudyDirection[d.upper()] for d in objective_directions(spec)],
        )
        study.set_metric_names(objective_names(spec))
        note = _note(study_id, spec.name, definition, api_url)
        save_new_study_note(storage_of(study), study_id_of(study), note)
        _enqueue_points(study, spec)  # before the link: no claim runs a trial of it until then
        with transaction(engine) as session:
            linked = session.execute(
                update(StudyRow)
                .where(StudyRow.id == study_id, StudyRow.optuna_study_id.is_(None))
                .values(optuna_study_id=study_id_of(study))
                .execution_options(synchronize_session=False)
            )
            if rowcount(linked) != 1:
                raise RuntimeError(f"study {study_id} was removed while it was being created")
    except BaseException:
        _undo_creation(row, engine=engine, storage=storage)
        raise
    row.optuna_study_id = study_id_of(study)
    forget(study_id)
    definition_of(row, spec)  # remembered as stored, seed and all
    return row


def _enqueue_points(study: optuna.Study, spec: StudySpec) -> None:
    """``sampler.points_to_evaluate`` as WAITING trials, in their order, in one commit: the
    first claims run them, each a trial of the budget, with its position in ``POINT_ATTR``."""
    trials = point_trials(spec.search_space, spec.sampler.points_to_evaluate or ())
    if trials:
        with transaction(engine_of(study)) as session:
            add_trials(session, study_id_of(study), trials)


def point_trials(
    space: SearchSpace, points: Sequence[Mapping[str, Any]], *, first: int = 0
) -> list[FrozenTrial]:
    """``points`` as the WAITING trials Optuna's ``enqueue_trial`` makes (their parameters in
    ``fixed_params``), each marked with its position among the definition's points
    (``POINT_ATTR``), the first at ``first``; for ``add_trials`` to write in the caller's
    transaction."""
    return [
        optuna.trial.create_trial(
            state=TrialState.WAITING,
            system_attrs={"fixed_params": optuna_params(space, point)},
            user_attrs={POINT_ATTR: first + index},
        )
        for index, point in enumerate(points)
    ]


def _undo_creation(row: StudyRow, *, engine: Engine | None, storage: RDBStorage) -> None:
    with contextlib.suppress(Exception):
        optuna.delete_study(study_name=row.optuna_name, storage=storage)
    with contextlib.suppress(Exception), transaction(engine) as session:
        session.execute(
            sql_delete(StudyRow).where(StudyRow.id == row.id, StudyRow.optuna_study_id.is_(None))
        )
