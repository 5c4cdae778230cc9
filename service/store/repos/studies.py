"""A study's row as this process reads it (remembered, held), its definition, and the list."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any, TypeAlias

from cachetools import LRUCache, TTLCache, cached
from sqlalchemy import func, select
from sqlalchemy.orm import Session, load_only

from regtune.service.errors import StudyNotFound
from regtune.service.spec.definition import StudySpec
from regtune.service.spec.enums import FINAL
from regtune.service.spec.objective import objective_directions
from regtune.service.store.reads import read
from regtune.service.store.repos import best_model
from regtune.service.store.scheduling import wake
from regtune.service.store.tables import StudyRow

Reach: TypeAlias = str | None
"""Whose studies a caller may read and act on: a tenant's, or every tenant's (None: the admin
key's). A study out of reach is not found."""
RECENT_SECONDS = 1.0
"""How old a study row (and its page of the study list) an API process may answer from memory:
another process's change (a worker finishing the study, a cancel through another API process)
shows at most this much later; this process's own changes show at once."""


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


def index_key(row: StudyRow) -> str:
    """The key of the study's trial index in this process (``trials.index``): one per budget.
    An index that saw the study ended is not read again, and an extension, which raises
    ``n_trials``, may open the study again (``extension``) in any process."""
    return f"{row.id}+{row.n_trials}"


def quiet(row: StudyRow) -> bool:
    """Ended with no trial slot held: no trial of the study can start or appear any more."""
    return row.status in FINAL and not row.n_running


def model_info(session: Session, row: StudyRow) -> dict[str, Any] | None:
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
    """(True, the record) if ``model_info`` would read nothing; (False, None) otherwise."""
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
