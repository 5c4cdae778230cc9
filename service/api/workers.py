"""The worker pool as the API shows it: live workers and what they are running."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response

from regtune.service.api.deps import CallerDep, sees_the_pool
from regtune.service.api.schemas import WorkerActivity, WorkerOut
from regtune.service.store.clock import utcnow
from regtune.service.store.repos.model_lease import SaveLease
from regtune.service.store.scheduling import workers as workers
from regtune.service.store.tables import WorkerRow

router = APIRouter(prefix="/v1", tags=["workers"])
SCOPE_HEADER = "X-Regtune-Workers"
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
    sees which study fills the pool); a tenant's key sees only the workers running its own
    trials, with their study and trial. ``X-Regtune-Workers`` says which.
    """
    now = utcnow()
    listed = workers.at_work(now=now)
    response.headers[SCOPE_HEADER] = "pool" if sees_the_pool(caller) else "tenant"
    if not sees_the_pool(caller):
        listed = [(r, d) for r, d in listed if r.study_id and d.tenant == caller.tenant]
    return [
        WorkerOut(
            id=r.id,
            host=r.host,
            pid=r.pid,
            started_at=r.started_at,
            last_heartbeat=r.last_seen,
            study_id=r.study_id,
            trial_number=r.trial_number,
            activity=_activity(r, d, now=now),
        )
        for r, d in listed
    ]


def _activity(row: WorkerRow, doing: workers.Doing, *, now: datetime) -> WorkerActivity:
    """What the store says the worker is doing now, not what its last heartbeat (up to an
    interval old) said: a trial that ended since, or one started since a setup, is not shown."""
    if doing.running:
        return "running_trial"
    if doing.lease is not None and _holds(SaveLease.read(doing.lease), row.id, now=now):
        return "saving_best_model"
    return "setting_up" if doing.holds_slot else "idle"


def _holds(lease: SaveLease, worker_id: str, *, now: datetime) -> bool:
    """The lease is the worker's and has not run out (the worker is alive: it is listed)."""
    return lease.worker == worker_id and lease.until > now
