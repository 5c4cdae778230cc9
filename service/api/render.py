"""The domain's reads as the API's response models, and the bodies worth keeping rendered.

A GET of a study or a page of its trials is mostly serialization: a finished trial never changes,
so its JSON is rendered once per process and a page is the join of its trials' bodies; a study's
body is rendered again only when what it shows changed (status, counts, best trial, model).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from cachetools import LRUCache, TTLCache, cached
from fastapi import Response
from pydantic import BaseModel

from regtune.service.api.schemas.best import BestModel, BestTrial
from regtune.service.api.schemas.studies import (
    Progress,
    SelectionOut,
    StopProgress,
    StudyBrief,
    StudyOut,
    StudyPage,
    ValidationOut,
)
from regtune.service.api.schemas.trials import CurvePoint, TrialOut
from regtune.service.api.study_end import error_of, fail_breakdown, study_end, trial_errors
from regtune.service.settings import get_settings
from regtune.service.spec.advice import warnings_of
from regtune.service.spec.definition import StudySpec
from regtune.service.spec.enums import StudyStatus
from regtune.service.store.optuna_db.attrs import FAILED_TRIAL_ATTR, PATH_OF_ATTR
from regtune.service.store.reads import read
from regtune.service.store.repos import studies, study_summary
from regtune.service.store.tables import StudyRow
from regtune.service.store.trials import views as trial_reads

FINISHED = frozenset({"COMPLETE", "PRUNED", "FAIL"})
TRIAL_BODIES_BYTES = 64 * 2**20
"""Rendered finished trials a process keeps (least recently used out), counted in body bytes:
about 500 bytes each, so a 100,000-trial study fits, in about 90 MB of the process's memory."""
TRIAL_BODY_BYTES = 1024
"""A generous guess at one rendered trial's size (most are about 550 bytes)."""
AHEAD_PAGE = 1000
"""Trials rendered ahead per read."""
_LOCK = threading.Lock()
_TRIALS: LRUCache[tuple[str, int], bytes] = LRUCache(maxsize=TRIAL_BODIES_BYTES, getsizeof=len)
_STUDIES: LRUCache[str, tuple[tuple[Any, ...], bytes]] = LRUCache(maxsize=1024)
_LISTS: TTLCache[tuple[Any, ...], bytes] = TTLCache(maxsize=256, ttl=studies.RECENT_SECONDS)
_READ = threading.Condition(_LOCK)
"""One rendering of an expired study list at a time: requests asking meanwhile wait for it."""


def json_body(model: BaseModel | bytes) -> Response:
    """The model as JSON, serialized once by pydantic (FastAPI would validate and encode again),
    or a body already rendered."""
    body = model if isinstance(model, bytes) else model.model_dump_json()
    return Response(body, media_type="application/json")


def trial_out(view: trial_reads.TrialView, *, with_curve: bool = False) -> TrialOut:
    curve = None
    if with_curve:
        curve = [CurvePoint(epoch=k, value=v) for k, v in sorted(view.intermediate_values.items())]
    return TrialOut(
        number=view.number,
        state=view.state,
        value=view.value,
        values=view.values,
        params=view.params,
        user_attrs=view.user_attrs,
        datetime_start=view.datetime_start,
        datetime_complete=view.datetime_complete,
        learning_curve=curve,
        retried_from=view.system_attrs.get(FAILED_TRIAL_ATTR),
        path_of=view.system_attrs.get(PATH_OF_ATTR),
    )


def test_metrics_of(view: trial_reads.TrialView) -> dict[str, Any] | None:
    prefix = "test_"
    return {
        k.removeprefix(prefix): v for k, v in view.user_attrs.items() if k.startswith(prefix)
    } or None


def best_trial_out(
    view: trial_reads.TrialView,
    test_metrics: dict[str, Any] | None,
    refit_test_metrics: dict[str, Any] | None = None,
) -> BestTrial:
    return BestTrial(
        number=view.number,
        value=view.value,
        values=view.values,
        params=view.params,
        n_nonzero=view.user_attrs.get("n_nonzero"),
        user_attrs=view.user_attrs,
        test_metrics=test_metrics,
        refit_test_metrics=refit_test_metrics,
    )


def study_out(row: StudyRow, *, spec: StudySpec | None = None) -> StudyOut:
    """The study as the API shows it; ``spec``: its definition, if this request parsed it."""
    return _study_out(row, study_summary.summarize(row, spec=spec))


def _study_out(row: StudyRow, summary: study_summary.StudySummary) -> StudyOut:
    done = summary.counts["COMPLETE"] + summary.counts["PRUNED"]
    best = None
    if summary.best is not None:
        best = best_trial_out(
            summary.best, summary.best_test_metrics, summary.best_refit_test_metrics
        )
    pareto = None
    if summary.pareto is not None:
        pareto = [best_trial_out(v, test_metrics_of(v)) for v in summary.pareto]
    return StudyOut(
        id=row.id,
        name=row.name,
        tenant=row.tenant,
        status=row.status,
        optuna_study_name=row.optuna_name,
        definition=row.spec,
        counts=summary.counts,
        progress=Progress(
            done=done,
            n_trials=row.n_trials,
            running=summary.counts["RUNNING"],
            fraction=min(1.0, done / row.n_trials) if row.n_trials else 1.0,
            stop=stop_progress(row),
        ),
        stopped_early=summary.stopped_early,
        best_trial=best,
        validation=ValidationOut(scheme=summary.validation, chosen_by=summary.validation_chosen_by),
        selection=SelectionOut(rule=summary.select, note=summary.select_note),
        pareto_front=pareto,
        best_model=BestModel.model_validate(summary.best_model) if summary.best_model else None,
        report_url=f"/v1/studies/{row.id}/report",
        warnings=warnings_of(studies.definition_of(row)),
        fail_breakdown=fail_breakdown(summary.failures),
        end=study_end(row, failures=summary.failures),
        trial_errors=trial_errors(row, failures=summary.failures),
        error=error_of(row),
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def stop_progress(row: StudyRow) -> StopProgress | None:
    """The stop rule's standing, from the columns the finishes move; None without a rule."""
    if not studies.definition_of(row).budget.stop:
        return None
    return StopProgress.model_validate(
        {
            "best_value": row.best_value,
            "since_improvement": max(0, row.n_done - row.best_at),
            "stopped_by": row.stopped_by,
        }
    )


def study_body(row: StudyRow) -> bytes:
    """``study_out(row)`` as JSON, rendered again only when what it shows changed."""
    summary = study_summary.summarize(row)
    if summary.pareto is not None:
        return _study_out(row, summary).model_dump_json().encode()
    best = summary.best.number if summary.best else None
    shown = _shown(row, summary.counts, best, summary.best_model)
    with _LOCK:
        known = _STUDIES.get(row.id)
    if known is not None and known[0] == shown:
        return known[1]
    body = _study_out(row, summary).model_dump_json().encode()
    with _LOCK:
        _STUDIES[row.id] = (shown, body)
    return body


def known_study_body(row: StudyRow) -> bytes | None:
    """``study_body(row)`` if it needs neither the database nor rendering (a quiet study whose
    settled index, best trial and model this process knows); None otherwise."""
    if not studies.quiet(row):
        return None
    objective = studies.definition_of(row).objective
    if objective.select == "one_se":
        return None  # the settled index knows the best trial, not the one-SE choice
    directions = studies.directions_of(row)
    known_model, model = studies.known_model(row)
    if len(directions) > 1 or not known_model:
        return None
    reads = trial_reads.settled_study_reads(
        row.optuna_study_id or -1,
        key=studies.index_key(row),
        direction=directions[0],
        relax_margin=objective.relax_margin,
    )
    if reads is None:
        return None
    counts, best = reads
    shown = _shown(row, counts, best.number if best else None, model)
    with _LOCK:
        known = _STUDIES.get(row.id)
    return known[1] if known is not None and known[0] == shown else None


def _shown(
    row: StudyRow, counts: dict[str, int], best: int | None, model: dict[str, Any] | None
) -> tuple[Any, ...]:
    """What a study's body shows that can change."""
    row_shows = (row.status, row.n_trials, row.error, row.started_at, row.finished_at)
    stop_shows = (row.n_done, row.best_at, row.stopped_by)  # the stop rule's standing
    return (*row_shows, *stop_shows, counts, best, model)


def trial_page_body(row: StudyRow, *, state: str | None, offset: int, limit: int) -> bytes:
    """A ``TrialPage`` as JSON: the page's finished trials as rendered before, the others read
    (one query for the trials, one for their attributes) and rendered."""
    total, ids, bodies = _render_page(row, state=state, offset=offset, limit=limit)
    return _page(ids, bodies, total, offset, limit)


def _render_page(
    row: StudyRow, *, state: str | None, offset: int, limit: int
) -> tuple[int, list[int], dict[int, bytes]]:
    """(how many trials of ``state``, the page's trial ids, their bodies); what it rendered of
    finished trials is kept."""
    osid = row.optuna_study_id or -1
    quiet = studies.quiet(row)

    def page(session: Any) -> tuple[int, list[int], dict[int, bytes], list[Any]]:
        total, ids = trial_reads.page_ids(
            session,
            osid,
            key=studies.index_key(row),
            state=state,
            offset=offset,
            limit=limit,
            quiet=quiet,
        )
        known = _rendered(row, ids)
        missing = [i for i in ids if i not in known]
        return total, ids, known, trial_reads.trials_by_id(session, missing) if missing else []

    total, ids, bodies, views = read(page)
    for view in views:
        body = trial_out(view).model_dump_json().encode()
        bodies[view.trial_id] = body
        if view.state in FINISHED:
            with _LOCK:
                _TRIALS[(row.id, view.trial_id)] = body
    return total, ids, bodies


def render_ahead(row: StudyRow, *, deadline: float) -> int:
    """Render the study's trials before any page asks for them, ``AHEAD_PAGE`` at a time, until
    all are, ``time.perf_counter()`` reaches ``deadline``, or what is kept would push out what
    was rendered before (the cache is full). How many trials it went through."""
    offset, total = 0, 1
    while offset < total and time.perf_counter() < deadline:
        with _LOCK:
            room = _TRIALS.maxsize - _TRIALS.currsize
        if room < AHEAD_PAGE * TRIAL_BODY_BYTES:
            break
        total, ids, _ = _render_page(row, state=None, offset=offset, limit=AHEAD_PAGE)
        offset += len(ids) or total
    return min(offset, total)


def known_trial_page_body(
    row: StudyRow, *, state: str | None, offset: int, limit: int
) -> bytes | None:
    """``trial_page_body`` if it needs neither the database nor rendering; None otherwise."""
    if not studies.quiet(row):
        return None
    found = trial_reads.settled_page_ids(
        row.optuna_study_id or -1,
        key=studies.index_key(row),
        state=state,
        offset=offset,
        limit=limit,
    )
    if found is None:
        return None
    total, ids = found
    bodies = _rendered(row, ids)
    return _page(ids, bodies, total, offset, limit) if len(bodies) == len(ids) else None


def _rendered(row: StudyRow, ids: list[int]) -> dict[int, bytes]:
    with _LOCK:
        return {i: b for i in ids if (b := _TRIALS.get((row.id, i))) is not None}


def _page(ids: list[int], bodies: dict[int, bytes], total: int, offset: int, limit: int) -> bytes:
    items = b",".join(bodies[i] for i in ids if i in bodies)
    return b'{"items":[%b],"total":%d,"offset":%d,"limit":%d}' % (items, total, offset, limit)


def recent_study_list(
    tenant: studies.Reach, status: StudyStatus | None, name: str | None, offset: int, limit: int
) -> bytes | None:
    """The ``StudyPage`` body as rendered at most ``RECENT_SECONDS`` ago by this process, and
    since its last change to a study; None if not."""
    with _LOCK:
        return _LISTS.get(_list_key(tenant, status, name, offset, limit))


def _list_key(
    tenant: studies.Reach, status: StudyStatus | None, name: str | None, offset: int, limit: int
) -> tuple[Any, ...]:
    return (get_settings().database_url, studies.changes(), tenant, status, name, offset, limit)


@cached(_LISTS, key=_list_key, condition=_READ)
def study_list_body(
    tenant: studies.Reach, status: StudyStatus | None, name: str | None, offset: int, limit: int
) -> bytes:
    rows, total = studies.list_rows(
        tenant=tenant, status=status, name=name, offset=offset, limit=limit
    )
    items = [
        StudyBrief(
            id=r.id,
            name=r.name,
            tenant=r.tenant,
            status=r.status,
            n_trials=r.n_trials,
            done=r.n_done,
            running=r.n_running,
            created_at=r.created_at,
            finished_at=r.finished_at,
        )
        for r in rows
    ]
    page = StudyPage(items=items, total=total, offset=offset, limit=limit)
    return page.model_dump_json().encode()
