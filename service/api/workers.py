"""The worker pool as the API shows it: live workers and what they are running."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response

from regtune.service.api.deps import CallerDep, sees_the_pool
from regtune.service.api.schemas.workers import WORKERS_SCOPE_HEADER, WorkerActivity, WorkerOut
from regtune.service.store.clock import utcnow
from regtune.service.store.repos.model_lease import SaveLease
from regtune.service.store.scheduling import workers as workers
from regtune.service.store.tables import WorkerRow

router = APIRouter(prefix="/v1", tags=["workers"])
SCOPE_HEADER = WORKERS_SCOPE_HEADER
"""Whose workers a listing holds: ``pool`` (every live worker) or ``tenant`` (the caller's
own), so that an empty listing can be read: no worker runs at all, or none runs this tenant's
trials (the watch says the first only)."""


@router.get(
    "/workers",
    response_model=list[WorkerOut],
    responses={
        200: {
            "headers": {
                SCOPE_HEADER: {
                    "description": "pool: every live worker (the admin key, or an API without "
                    "keys); tenant: only those running the caller's own trials",
                    "schema": {"type": "string", "enum": ["pool", "tenant"]},
                }
            }
        }
    },
)
def list_workers(caller: CallerDep, response: Response) -> list[WorkerOut]:
    """Workers whose heartbeat is within their own grace period, oldest first.

    The admin key (or anyone, without keys) sees every worker and what it runs (the operator
    sees which study fills the pool); a tenant's key sees only the workers at work on its own
    studies (running, setting up or saving), with their study and trial. ``X-Regtune-Workers``
    says which.
    """
    now = utcnow()
    pool = sees_the_pool(caller)
    response.headers[SCOPE_HEADER] = "pool" if pool else "tenant"
    listed = []
    for row, doing in workers.at_work(now=now):
        activity, work = _doing(row, doing, now=now)
        if pool or (work is not None and work.tenant == caller.tenant):
            listed.append(
                WorkerOut(
                    id=row.id,
                    host=row.host,
                    pid=row.pid,
                    started_at=row.started_at,
                    last_heartbeat=row.last_seen,
                    study_id=None if work is None else work.study_id,
                    trial_number=None if work is None else work.trial_number,
                    activity=activity,
                )
            )
    return listed


def _doing(
    row: WorkerRow, doing: workers.Doing, *, now: datetime
) -> tuple[WorkerActivity, workers.Work | None]:
    """What the store says the worker is doing now, and at which study and trial, all from the
    same fact: its last heartbeat (up to an interval old) names a trial that may have ended, or
    a study it has left, and is not read."""
    if doing.running is not None:
        return "running_trial", doing.running
    if doing.saving is not None and _holds(doing.lease, row.id, now=now):
        return "saving_best_model", doing.saving
    if doing.claimed is not None:
        return "setting_up", doing.claimed
    return "idle", None


def _holds(stored: str | None, worker_id: str, *, now: datetime) -> bool:
    """The lease is the worker's and has not run out (the worker is alive: it is listed)."""
    if stored is None:
        return False
    lease = SaveLease.read(stored)
    return lease.worker == worker_id and lease.until > now
