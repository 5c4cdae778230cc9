"""The worker pool as the API shows it: live workers and what they are running."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from regtune.service.api.deps import CallerDep, sees_the_pool
from regtune.service.api.schemas import WorkerActivity, WorkerOut
from regtune.service.store.db import transaction
from regtune.service.store.scheduling import workers as workers
from regtune.service.store.tables import StudyRow, WorkerRow

router = APIRouter(prefix="/v1", tags=["workers"])


@router.get("/workers", response_model=list[WorkerOut])
def list_workers(caller: CallerDep) -> list[WorkerOut]:
    """Workers whose heartbeat is within their own grace period, oldest first.

    The admin key (or anyone, without keys) sees every worker and what it runs (the operator
    sees which study fills the pool); a tenant's key sees only the workers running its own
    trials, with their study and trial.
    """
    rows = workers.live()
    running = {r.study_id for r in rows if r.study_id is not None}
    with transaction() as session:
        own = set(
            session.scalars(
                select(StudyRow.id).where(
                    StudyRow.id.in_(running), StudyRow.tenant == caller.tenant
                )
            )
        )
    if sees_the_pool(caller):
        own = running
    else:
        rows = [r for r in rows if r.study_id in own]
    setting_up = workers.setting_up(rows)
    return [
        WorkerOut(
            id=r.id,
            host=r.host,
            pid=r.pid,
            started_at=r.started_at,
            last_heartbeat=r.last_seen,
            study_id=r.study_id if r.study_id in own else None,
            trial_number=r.trial_number if r.study_id in own else None,
            activity=_activity(r, setting_up),
        )
        for r in rows
    ]


def _activity(row: WorkerRow, setting_up: set[str]) -> WorkerActivity:
    """What the worker's last heartbeat and its slots say it is doing."""
    if row.study_id is None:
        return "idle"
    if row.trial_number is not None:
        return "running_trial"
    return "setting_up" if row.id in setting_up else "saving_best_model"
