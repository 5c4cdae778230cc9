"""Study lifecycle in the domain: create, read, cancel, delete. No HTTP here."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeAlias

import optuna
from cachetools import LRUCache, TTLCache, cached
from optuna.storages import RDBStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import Engine, func, select, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, load_only

from regtune.service.errors import (
    FieldProblem,
    StudyNameTaken,
    StudyNotActive,
    StudyNotFound,
    StudyRunning,
)
from regtune.service.settings import get_settings
from regtune.service.spec.definition import StudySpec
from regtune.service.spec.enums import ACTIVE, FINAL, StudyStatus
from regtune.service.spec.objective import Select, objective_directions, objective_names
from regtune.service.spec.points import optuna_params
from regtune.service.spec.space import SearchSpace
from regtune.service.store.clock import utcnow
from regtune.service.store.db import rowcount, transaction
from regtune.service.store.optuna_db.attrs import POINT_ATTR
from regtune.service.store.optuna_db.internals.handles import engine_of, storage_of, study_id_of
from regtune.service.store.optuna_db.internals.inserts import add_trials
from regtune.service.store.optuna_db.names import optuna_name
from regtune.service.store.optuna_db.notes import rewrite_study_note, save_new_study_note
from regtune.service.store.reads import read
from regtune.service.store.repos import best_model, datasets
from regtune.service.store.scheduling import wake
from regtune.service.store.scheduling.retries import get_storage
from regtune.service.store.tables import ClaimRow, StudyRow, WorkerRow
from regtune.service.store.trials import stats
from regtune.service.store.trials import views as trial_reads
from regtune.service.store.trials.best import pareto_numbers
from regtune.service.store.trials.failures import Failures

Reach: TypeAlias = str | None
"""Whose studies a caller may read and act on: a tenant's, or every tenant's (None: the admin
key's). A study out of reach is not found."""
RECENT_SECONDS = 1.0
"""How old a study row (and its page of the study list) an API process may answer from memory:
another process's change (a worker finishing the study, a cancel through another API process)
shows at most this much later; this process's own changes show at once."""


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
    with _LOCK:  # the definition as stored, seed and all (``definition_of``)
        _DEFINITIONS[(study_id, row.n_trials)] = spec
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


def _fetch(study_id: str) -> StudyRow:
    row = read(lambda session: session.get(StudyRow, study_id))
    if row is None:  # raised, not remembered: a study created meanwhile is found at once
        raise StudyNotFound(f"no study with id {study_id!r}")
    return row


def _own(row: StudyRow, tenant: Reach) -> StudyRow:
    if tenant is not None and row.tenant != tenant:
        raise StudyNotFound(f"no study with id {row.id!r}")
    return row


def get_row(study_id: str, *, tenant: Reach = "default") -> StudyRow:
    return _remembered(_own(_fetch(study_id), tenant))


_LOCK = threading.Lock()
_READ = threading.Condition(_LOCK)
"""One read of a remembered entry at a time: callers that miss it meanwhile wait for that read.
Each entry of a study expires at once for every request; without this, each request of that
moment read it too, holding a thread while it waited for one of the pool's few connections,
and a process under load stalled for 50-100 ms every ``RECENT_SECONDS``."""
_ROWS: TTLCache[str, StudyRow] = TTLCache(maxsize=1024, ttl=RECENT_SECONDS)
_MODELS: LRUCache[str, tuple[datetime | None, dict[str, Any]]] = LRUCache(maxsize=1024)
"""Studies' saved best-model records, with the ``finished_at`` of the row they were read for: a
study extended after it completed has no model until it completes again (``extension``), when
it may get another, so a record stands only for the end it was read at."""
_ENDED_MODEL_READS: TTLCache[str, dict[str, Any] | None] = TTLCache(
    maxsize=1024, ttl=RECENT_SECONDS
)
"""What an ended study's best-model record was read to be (None: none yet), for
``RECENT_SECONDS``. A running study's is read on each request: its record may appear any time."""
_DEFINITIONS: LRUCache[tuple[str, int], StudySpec] = LRUCache(maxsize=4096)
"""Studies' parsed definitions, by study and ``n_trials``: a stored definition changes only
when the study is extended (``extension``), which raises its ``n_trials``, so it is parsed once
per extension."""


_read_row = cached(_ROWS, key=lambda study_id: study_id, condition=_READ)(_fetch)

HELD_SECONDS = 0.05
"""How often a study's row is read again for the requests that hold their answer until it has
ended (``GET /v1/studies/{id}?wait=``), where nothing tells that the database changed: once for
all of them."""
WATCHED_SECONDS = 0.02
"""How often they look where something does: SQLite's data version (``wake.DataVersion``, read in
microseconds). The row is read again only once another connection has committed."""
_HELD: LRUCache[tuple[str, tuple[str, int]], StudyRow] = LRUCache(maxsize=1024)
"""Rows read for held answers, by study and by the database's state when read (``_stamp``)."""


def _fetch_fresh(study_id: str) -> StudyRow:
    with _LOCK:  # its missing model read again too: it may be saved any moment
        _ENDED_MODEL_READS.pop(study_id, None)
    return _fetch(study_id)


_read_held = cached(_HELD, key=lambda study_id, stamp: (study_id, stamp), condition=_READ)(
    lambda study_id, stamp: _fetch_fresh(study_id)
)


def _stamp() -> tuple[str, int]:
    """The database's state as this process can tell it: SQLite's data version, else the
    ``HELD_SECONDS`` period of now (its rows are read once per period)."""
    version = wake.versions().read()
    if version is not None:
        return ("version", version)
    return ("period", int(time.monotonic() / HELD_SECONDS))


def held_interval() -> float:
    """How long a request holding its answer waits between two looks at the study's row."""
    return WATCHED_SECONDS if wake.versions().watches else HELD_SECONDS


def held_row(study_id: str, *, tenant: Reach = "default") -> StudyRow:
    """The row as read since the database last changed (on SQLite) or at most ``HELD_SECONDS``
    ago, for a request holding its answer until the study has ended: one read for every such
    request of that moment, remembered for every caller as ``read_row_now``'s is."""
    return _remembered(_own(_read_held(study_id, _stamp()), tenant))


def recent_or_read_row(study_id: str, *, tenant: Reach = "default") -> StudyRow:
    """``recent_row``, or the row read now (once for all callers asking meanwhile)."""
    return _own(_read_row(study_id), tenant)


def _remembered(row: StudyRow) -> StudyRow:
    with _LOCK:
        _ROWS[row.id] = row
    return row


_changes = 0


def forget(study_id: str) -> None:
    """This process changed the study: its next read goes to the database."""
    global _changes
    with _LOCK:
        _ROWS.pop(study_id, None)
        _MODELS.pop(study_id, None)
        _ENDED_MODEL_READS.pop(study_id, None)
        _changes += 1


def changes() -> int:
    """How many times this process changed a study: what it remembers of study lists from
    before a change is stale."""
    return _changes


def read_row_now(study_id: str, *, tenant: Reach = "default") -> StudyRow:
    """The row as it is now, for a client waiting for the study to change: read, remembered for
    every caller, and what this process remembered of its missing model forgotten."""
    return _remembered(_own(_fetch_fresh(study_id), tenant))


def recent_row(study_id: str, *, tenant: Reach = "default") -> StudyRow | None:
    """The row as read at most ``RECENT_SECONDS`` ago, if it was; None: call
    ``recent_or_read_row``.
    Raises ``StudyNotFound`` for another tenant's study. Callers must not modify the row."""
    with _LOCK:
        row = _ROWS.get(study_id)
    return row if row is None else _own(row, tenant)


def settled(row: StudyRow) -> bool:
    """Ended with nothing more to come: failed or cancelled, or completed with its best model
    saved (a worker saves it just after the end) or with no best trial to save one of: none
    completed, or the worker said why those that did give no model (the study's ``error``,
    written just after the end, as a model would be)."""
    if row.status not in FINAL:
        return False
    if row.status != StudyStatus.COMPLETED:
        return True
    summary = summarize(row)
    if summary.best is None:
        said = row.error is not None and best_model.is_model_error(row.error)
        return said or not summary.counts.get(TrialState.COMPLETE.name)
    return summary.best_model is not None


def index_key(row: StudyRow) -> str:
    """The key of the study's trial index in this process (``trials.index``): one per budget.
    An index that saw the study ended is not read again, and an extension, which raises
    ``n_trials``, may open the study again (``extension``) in any process."""
    return f"{row.id}+{row.n_trials}"


def quiet(row: StudyRow) -> bool:
    """Ended with no trial slot held: no trial of the study can start or appear any more."""
    return row.status in FINAL and not row.n_running


def _model_info(session: Session, row: StudyRow) -> dict[str, Any] | None:
    """The saved best model's record: read until there is one, then remembered (a worker writes
    it once, after the study ended); that an ended study has none yet is remembered for
    ``RECENT_SECONDS``."""
    known, found = known_model(row)
    if known:
        return found
    if row.status in FINAL:
        return _read_ended_model(session, row)
    return _read_model(session, row)


def _read_model(session: Session, row: StudyRow) -> dict[str, Any] | None:
    found = best_model.read_info(session, row.optuna_study_id or -1)
    if found is not None:
        with _LOCK:
            _MODELS[row.id] = (row.finished_at, found)
    return found


@cached(_ENDED_MODEL_READS, key=lambda _session, row: row.id, condition=_READ)
def _read_ended_model(session: Session, row: StudyRow) -> dict[str, Any] | None:
    return _read_model(session, row)


def known_model(row: StudyRow) -> tuple[bool, dict[str, Any] | None]:
    """(True, the record) if ``_model_info`` would read nothing; (False, None) otherwise."""
    with _LOCK:
        kept = _MODELS.get(row.id)
        found = kept[1] if kept is not None and kept[0] == row.finished_at else None
        return found is not None or row.id in _ENDED_MODEL_READS, found


def definition_of(row: StudyRow, spec: StudySpec | None = None) -> StudySpec:
    """The study's definition, parsed once per process and extension."""
    key = (row.id, row.n_trials)
    with _LOCK:
        found = _DEFINITIONS.get(key)
    if found is None:
        found = spec or StudySpec.from_stored(row.spec)
        with _LOCK:
            _DEFINITIONS[key] = found
    return found


def directions_of(row: StudyRow, spec: StudySpec | None = None) -> list[str]:
    """The objective directions of the study's definition."""
    return objective_directions(definition_of(row, spec))


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
    *,
    tenant: Reach = "default",
    status: str | None = None,
    name: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[StudyRow], int]:
    """A page of a tenant's studies (every tenant's: None), newest first, with the ``BRIEF``
    columns loaded only; ``name``: only the study of that name (one per tenant)."""
    where = [] if tenant is None else [StudyRow.tenant == tenant]
    if status is not None:
        where.append(StudyRow.status == status)
    if name is not None:
        where.append(StudyRow.name == name)

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


def recently_updated(limit: int) -> list[StudyRow]:
    """Every tenant's studies that have an Optuna study, most recently updated first."""
    return read(
        lambda session: list(
            session.scalars(
                select(StudyRow)
                .where(StudyRow.optuna_study_id.is_not(None))
                .order_by(StudyRow.updated_at.desc())
                .limit(limit)
            ).all()
        )
    )


def cancel(study_id: str, *, tenant: Reach = "default") -> StudyRow:
    """Stop scheduling the study; a study cancelled already is answered as it is (a retried
    cancel succeeds), one that completed or failed is ``StudyNotActive``."""
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
    forget(study_id)
    now_row = get_row(study_id, tenant=tenant)
    if won != 1 and now_row.status != StudyStatus.CANCELLED:
        raise StudyNotActive(
            f"study {study_id!r} has already {now_row.status}: only a queued or running study "
            "can be cancelled"
        )
    return now_row


def delete(study_id: str, *, tenant: Reach = "default") -> None:
    """Delete the study, its Optuna study, every trial and its model file; ``StudyRunning``
    while trials run.

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
        refusal = None if won == 1 else _still_running(session, study_id, row.id)
    forget(study_id)
    if refusal is not None:
        raise StudyRunning(refusal)
    # The row goes first, with the tallies of its trials kept for /metrics in the same
    # transaction: a scrape sees the study or its tallies, never both, never neither, and no
    # sweep takes a row whose Optuna study is half deleted for one deleted outside regtune.
    # A process killed before the Optuna study is deleted leaves it to the sweep's
    # remove_orphaned_optuna_studies.
    files: list[str] = []
    with transaction() as session:
        gone = rowcount(session.execute(sql_delete(StudyRow).where(StudyRow.id == row.id)))
        if gone and row.optuna_study_id is not None:
            files = best_model.stored_artifacts(session, row.optuna_study_id)
            stats.retire(session, stats.tallies_of(session, row.optuna_study_id))
    forget(study_id)
    if not gone:
        return  # another delete of it came first, and deletes the rest
    with contextlib.suppress(KeyError):
        optuna.delete_study(study_name=row.optuna_name, storage=get_storage())
    best_model.remove_artifacts(study_id, files)


def _still_running(session: Session, study_id: str, row_id: str) -> str:
    """Why a study whose trials run cannot be deleted yet, and when it can: a study still
    active must be cancelled first; a cancelled (or otherwise ended) one's trials stop at their
    workers' next heartbeat, which brings them the news (every ``heartbeat_interval`` seconds
    its workers registered)."""
    found = session.execute(
        select(StudyRow.status, StudyRow.n_running).where(StudyRow.id == row_id)
    ).one_or_none()
    if found is None:  # another delete of it came first
        raise StudyNotFound(f"no study with id {study_id!r}")
    status, running = found
    if StudyStatus(status) in ACTIVE:
        return (
            f"study {study_id!r} has {running} trial(s) running; cancel it first "
            f"(regtune cancel {study_id}, or POST /v1/studies/{study_id}/cancel; running trials "
            "stop within a worker heartbeat interval), "
            "then delete it"
        )
    interval = session.scalar(
        select(func.max(WorkerRow.heartbeat_interval))
        .join(ClaimRow, ClaimRow.worker_id == WorkerRow.id)
        .where(ClaimRow.study_id == row_id)
    )
    every = "" if interval is None else f" (every {interval} s)"
    stops = (
        "its running trial stops at its worker's"
        if running == 1
        else f"its {running} running trials stop at their workers'"
    )
    return f"study {study_id!r} is {status}: {stops} next heartbeat{every}; delete it then"


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
    validation: str = ""
    """The scheme the trials were validated with (``5-fold``, ``holdout 0.2``)."""
    validation_chosen_by: str = "definition"
    select: Select = "best"
    """``objective.select``: how ``best`` was chosen."""
    select_note: str | None = None
    """Why ``best`` is not the best value's trial (``objective.relax_margin``, ``one_se``): the
    trials and standard errors the choice measured."""
    stopped_early: int = 0
    """COMPLETE trials that early stopping ended (``training.early_stopping``)."""
    failures: Failures = field(default_factory=Failures)
    """What became of the FAIL trials: interrupted and run again, never run, failed."""


PARETO_LIMIT = 500


def summarize(row: StudyRow, *, spec: StudySpec | None = None) -> StudySummary:
    """Counts, best feasible trial, Pareto set (several objectives) and the saved best model.

    ``spec`` is the row's definition when the caller has it already (a request parses a stored
    definition at most once).
    """
    spec = definition_of(row, spec)
    directions = objective_directions(spec)
    select_rule = spec.objective.select
    osid = row.optuna_study_id or -1

    def reads(session: Session) -> tuple[Any, ...]:
        counts, best, note = trial_reads.study_reads(
            session,
            osid,
            key=index_key(row),
            direction=directions[0],
            quiet=quiet(row),
            select=select_rule,
            relax_margin=spec.objective.relax_margin,
        )
        stopped_early = trial_reads.stopped_early(session, osid, key=index_key(row))
        failures = trial_reads.failures(osid, key=index_key(row))
        pareto = None
        if len(directions) > 1:
            numbers = pareto_numbers(session, osid, directions)
            pareto = trial_reads.list_trials(
                session, osid, numbers=numbers[:PARETO_LIMIT], limit=PARETO_LIMIT
            )
        return counts, best, note, stopped_early, failures, pareto, _model_info(session, row)

    counts, best, note, stopped_early, failures, pareto, model = read(reads)
    if model is not None and model.get("test_metrics") == {}:  # saved before: no test split
        model = {**model, "test_metrics": None}
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
        validation=spec.validation.scheme,
        validation_chosen_by=spec.validation.chosen_by or "definition",
        select=select_rule,
        select_note=note,
        stopped_early=stopped_early,
        failures=failures,
    )
