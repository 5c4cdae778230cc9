"""Study lifecycle in the domain: create, read, cancel, delete. No HTTP here."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import optuna
from optuna.storages import RDBStorage
from optuna.study import StudyDirection
from optuna_dashboard import save_note
from sqlalchemy import Engine, func, select, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, load_only

from regtune.service.errors import StudyNameTaken, StudyNotActive, StudyNotFound, StudyRunning
from regtune.service.spec.definition import StudySpec
from regtune.service.spec.enums import ACTIVE, StudyStatus
from regtune.service.spec.objective import objective_directions, objective_names
from regtune.service.store.clock import utcnow
from regtune.service.store.db import rowcount, transaction
from regtune.service.store.optuna_db.internals import study_id_of
from regtune.service.store.optuna_db.names import optuna_name
from regtune.service.store.reads import read
from regtune.service.store.repos import best_model
from regtune.service.store.scheduling.retries import get_storage
from regtune.service.store.tables import StudyRow
from regtune.service.store.trials import views as trial_reads
from regtune.service.store.trials.best import pareto_numbers


def _note(study_id: str, name: str, definition: dict[str, Any], api_url: str | None) -> str:
    """What optuna-dashboard shows of a study: its definition and a link back to the API."""
    import yaml

    link = f"{api_url.rstrip('/')}/v1/studies/{study_id}" if api_url else f"/v1/studies/{study_id}"
    body = yaml.safe_dump(definition, sort_keys=False)
    return f"# {name}\n\nregtune study `{study_id}` — [{link}]({link})\n\n```yaml\n{body}```\n"


def create_study(
    spec: StudySpec,
    *,
    tenant: str = "default",
    api_url: str | None = None,
    engine: Engine | None = None,
    storage: RDBStorage | None = None,
) -> StudyRow:
    """Store the definition and create its Optuna study; the name is unique per tenant.

    The definition is stored once, in the study's row; the Optuna study gets its objectives
    and the note optuna-dashboard shows.

    The regtune row comes first, without an Optuna study id (workers do not claim such a
    row), then the Optuna study, then the id is set by a conditional UPDATE. A process killed in
    between leaves a row without an Optuna study id, which the sweep removes with whatever
    Optuna study it had (``sweep.remove_unfinished_studies``); never an Optuna study nobody
    knows about.
    """
    study_id = uuid.uuid4().hex[:16]
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
        max_retries=spec.budget.max_retries,
        n_running=0,
        n_done=0,
        n_claims=0,
        n_errors=0,
        deadline=now + timedelta(seconds=spec.budget.timeout_s) if spec.budget.timeout_s else None,
        created_at=now,
        updated_at=now,
    )
    taken = StudyNameTaken(f"a study named {spec.name!r} already exists")
    try:
        with transaction(engine) as session:
            if session.scalar(
                select(StudyRow.id).where(StudyRow.tenant == tenant, StudyRow.name == spec.name)
            ):
                raise taken
            session.add(row)
    except IntegrityError as exc:
        raise taken from exc
    storage = storage or get_storage()
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=row.optuna_name,
            directions=[StudyDirection[d.upper()] for d in objective_directions(spec)],
        )
        study.set_metric_names(objective_names(spec))
        save_note(study, _note(study_id, spec.name, definition, api_url))
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
    return row


def _undo_creation(row: StudyRow, *, engine: Engine | None, storage: RDBStorage) -> None:
    with contextlib.suppress(Exception):
        optuna.delete_study(study_name=row.optuna_name, storage=storage)
    with contextlib.suppress(Exception), transaction(engine) as session:
        session.execute(
            sql_delete(StudyRow).where(StudyRow.id == row.id, StudyRow.optuna_study_id.is_(None))
        )


def get_row(study_id: str, *, tenant: str = "default") -> StudyRow:
    row = read(lambda session: session.get(StudyRow, study_id))
    if row is None or row.tenant != tenant:
        raise StudyNotFound(f"no study with id {study_id!r}")
    return row


BRIEF = (
    StudyRow.id,
    StudyRow.tenant,
    StudyRow.name,
    StudyRow.status,
    StudyRow.n_trials,
    StudyRow.n_done,
    StudyRow.n_running,
    StudyRow.created_at,
    StudyRow.finished_at,
)


def list_rows(
    *, tenant: str = "default", status: str | None = None, offset: int = 0, limit: int = 50
) -> tuple[list[StudyRow], int]:
    """A page of a tenant's studies, newest first, with the ``BRIEF`` columns loaded only."""
    where = [StudyRow.tenant == tenant]
    if status is not None:
        where.append(StudyRow.status == status)

    def page(session: Session) -> tuple[list[StudyRow], int]:
        total = session.scalar(select(func.count()).select_from(StudyRow).where(*where)) or 0
        rows = session.scalars(
            select(StudyRow)
            .options(load_only(*BRIEF))
            .where(*where)
            .order_by(StudyRow.created_at.desc(), StudyRow.id)
            .offset(offset)
            .limit(limit)
        ).all()
        return list(rows), int(total)

    return read(page)


def cancel(study_id: str, *, tenant: str = "default") -> StudyRow:
    row = get_row(study_id, tenant=tenant)
    now = utcnow()
    with transaction() as session:
        won = rowcount(
            session.execute(
                update(StudyRow)
                .where(StudyRow.id == row.id, StudyRow.status.in_(ACTIVE))
                .values(status=StudyStatus.CANCELLED, finished_at=now, updated_at=now)
                .execution_options(synchronize_session=False)
            )
        )
    if won != 1:
        raise StudyNotActive(f"study {study_id!r} is already {row.status}")
    return get_row(study_id, tenant=tenant)


def delete(study_id: str, *, tenant: str = "default") -> None:
    """Delete the study, its Optuna study and every trial; ``StudyRunning`` while trials run.

    One conditional UPDATE stops scheduling only if no slot is held, so a trial can neither be
    running nor start while its Optuna rows are deleted (a worker writing to a trial being
    deleted is what left Optuna studies behind). A refused delete changes nothing.
    """
    row = get_row(study_id, tenant=tenant)
    with transaction() as session:
        won = rowcount(
            session.execute(
                update(StudyRow)
                .where(StudyRow.id == row.id, StudyRow.n_running == 0)
                .values(status=StudyStatus.CANCELLED, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        )
        running = session.scalar(select(StudyRow.n_running).where(StudyRow.id == row.id))
    if won != 1:
        raise StudyRunning(
            f"study {study_id!r} has {running} trial(s) running; cancel it first "
            f"(POST /v1/studies/{study_id}/cancel; running trials stop at their next epoch), "
            "then delete it"
        )
    with contextlib.suppress(KeyError):
        optuna.delete_study(study_name=row.optuna_name, storage=get_storage())
    with transaction() as session:
        stored = session.get(StudyRow, row.id)
        if stored is not None:
            session.delete(stored)


@dataclass
class StudySummary:
    row: StudyRow
    counts: dict[str, int]
    best: trial_reads.TrialView | None
    best_test_metrics: dict[str, Any] | None
    """The best trial's own test metrics (its models, trained on its training rows)."""
    pareto: list[trial_reads.TrialView] | None = None
    best_model: dict[str, Any] | None = None
    best_refit_test_metrics: dict[str, Any] | None = None
    """The saved model's, when it is the best trial's configuration retrained (the refit)."""


PARETO_LIMIT = 500


def summarize(row: StudyRow, *, spec: StudySpec | None = None) -> StudySummary:
    """Counts, best feasible trial, Pareto set (several objectives) and the saved best model.

    ``spec`` is the row's definition when the caller has it already (a request parses a stored
    definition at most once).
    """
    directions = objective_directions(spec or StudySpec.from_stored(row.spec))
    osid = row.optuna_study_id or -1

    def reads(session: Session) -> tuple[Any, ...]:
        counts, best = trial_reads.study_reads(session, osid, key=row.id, direction=directions[0])
        pareto = None
        if len(directions) > 1:
            numbers = pareto_numbers(session, osid, directions)
            pareto = trial_reads.list_trials(
                session, osid, numbers=numbers[:PARETO_LIMIT], limit=PARETO_LIMIT
            )
        return counts, best, pareto, best_model.read_info(session, osid)

    counts, best, pareto, model = read(reads)
    test_metrics = refit_metrics = None
    if best is not None:
        test_metrics = {
            k.removeprefix("test_"): v for k, v in best.user_attrs.items() if k.startswith("test_")
        } or None
        if model is not None and model.get("trial") == best.number:
            refit_metrics = model["test_metrics"]  # what the downloadable model scores
    return StudySummary(
        row=row,
        counts=counts,
        best=best,
        best_test_metrics=test_metrics,
        pareto=pareto,
        best_model=model,
        best_refit_test_metrics=refit_metrics,
    )
