"""How many workers the pool could use right now: the one query the autoscaler runs.

KEDA's ``postgresql`` trigger runs :data:`SCALER_QUERY` with the workers' tenant cap written in
for its one parameter (:data:`CAP`); the Helm chart renders it from
``deploy/helm/regtune/files/scaler.sql``, which ``make chart-sync`` writes from here and a test
compares byte for byte. Plain SQL (``CASE``, no ``LEAST``/``GREATEST``) so that it runs on
PostgreSQL and SQLite alike, but for the clock (:data:`UTC_NOW`).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from regtune.service.spec.enums import ACTIVE, StudyStatus
from regtune.service.store.optuna_db.attrs import BEST_MODEL_ATTR, NO_MODEL_ATTR
from regtune.service.store.optuna_db.internals.handles import om

_MODEL_ATTRS = om.StudyUserAttributeModel.__tablename__
_MARKS = om.StudySystemAttributeModel.__tablename__

UTC_NOW = {"postgresql": "timezone('UTC', now())", "sqlite": "CURRENT_TIMESTAMP"}
"""The database's time now, as the naive UTC time ``regtune_studies.deadline`` holds: on
PostgreSQL whatever the session's ``TimeZone`` (KEDA's connection sets none), SQLite's clock is
UTC already."""


CAP = "tenant_max_running"
"""The query's one parameter, ``:tenant_max_running``: the workers' ``REGTUNE_TENANT_MAX_RUNNING``
(0: no cap). KEDA binds no parameter, so the chart writes the number in its place."""


def scaler_query(dialect: str, *, tenant_max_running: int | None = None) -> str:
    """:data:`SCALER_QUERY` for the database ``dialect`` (``postgresql`` or ``sqlite``), with
    ``tenant_max_running`` written in for the parameter as the chart does, if given."""
    query = _QUERY.replace("{utc_now}", UTC_NOW[dialect])
    if tenant_max_running is None:
        return query
    if tenant_max_running < 0:
        raise ValueError(f"tenant_max_running must be >= 0, got {tenant_max_running=}")
    return query.replace(f":{CAP}", str(tenant_max_running))


_QUERY = f"""\
WITH tenants AS (
    SELECT tenant, CASE
        WHEN :{CAP} <= 0 THEN NULL
        WHEN SUM(n_running) >= :{CAP} THEN 0
        ELSE :{CAP} - SUM(n_running)
    END AS room
    FROM regtune_studies
    GROUP BY tenant
), open_slots AS (
    SELECT regtune_studies.tenant, room, COALESCE(slots_per_claim, 1) AS per_claim, (
        SELECT COUNT(DISTINCT busy.worker_id) FROM regtune_claims AS busy
        WHERE busy.study_id = regtune_studies.id AND NOT busy.reserved
    ) AS busy, CASE
        WHEN optuna_study_id IS NULL OR stopped_by IS NOT NULL OR deadline <= {{utc_now}} THEN 0
        WHEN n_done + n_running + n_reserved >= n_trials OR n_running >= max_parallel THEN 0
        WHEN max_parallel - n_running < n_trials - n_done - n_running - n_reserved
            THEN max_parallel - n_running
        ELSE n_trials - n_done - n_running - n_reserved
    END AS slots
    FROM regtune_studies JOIN tenants ON tenants.tenant = regtune_studies.tenant
    WHERE status IN ({", ".join(f"'{status}'" for status in ACTIVE)})
), per_tenant AS (
    SELECT room, SUM(busy) AS busy,
        SUM((CASE WHEN room < slots THEN room ELSE slots END + per_claim - 1) / per_claim) AS fresh
    FROM open_slots
    GROUP BY tenant, room
)
SELECT COALESCE(SUM(busy + CASE WHEN room < fresh THEN room ELSE fresh END), 0) + (
    SELECT COUNT(*) FROM regtune_studies AS done
    WHERE done.status = '{StudyStatus.COMPLETED.value}'
    AND done.optuna_study_id IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM {_MODEL_ATTRS} AS model
        WHERE model.study_id = done.optuna_study_id AND model.key = '{BEST_MODEL_ATTR}')
    AND NOT EXISTS (SELECT 1 FROM {_MARKS} AS mark
        WHERE mark.study_id = done.optuna_study_id AND mark.key = '{NO_MODEL_ATTR}')
) AS wanted_workers
FROM per_tenant
"""
SCALER_QUERY = scaler_query("postgresql")
"""For each queued or running study, the workers running its trials (its claims', λ paths'
reserved points aside) plus the workers its open slots want: the slots a claim could take now,
by the same rules as the claim itself (``claims.counts.has_room`` and ``n_running <
max_parallel``): ``min(max_parallel - n_running, n_trials - n_done - n_running - n_reserved)``,
never negative (a λ path's reserved points are budget spent; a study still being created, one
its stop rule stopped, ``budget.stop``, or whose deadline, ``budget.timeout_s``, passed opens
none), divided by the slots one worker's claim takes (``slots_per_claim``: a fused pass's
members; 1 for a row without it), rounded up. A fused pass that gave back a member's slot early
(pruned) still counts as its one worker, and the open slot wants another.

With the tenant cap (``:tenant_max_running`` > 0, ``REGTUNE_TENANT_MAX_RUNNING``) a tenant's
room is the cap less the trials all its studies run, as the claim counts them; each study's open
slots are cut to that room, and the tenant's new workers too. That is exact when the tenant has
one study with open slots or its studies take one slot a claim; otherwise it is an upper bound
(it counts each fused study's passes as if the room were its alone; which study the claims
serve first decides) until the room is taken, when it counts the running workers only.

Summed over tenants, plus one for each completed study whose best model is still to be saved (a
refit a stopped worker left, or one waiting out a failed try's back-off) or whose word why it
has none is still to be written (no COMPLETE trial when its deadline or the sweep ended it), as
``studies_missing_a_model`` finds them, so a pool scaled to zero keeps a worker to catch up.

Cancelled and failed studies want no worker (a cancelled study's running trials stop at their
next iteration). This is the number of workers that have something to do now; a KEDA target
of 1 per worker makes it the pool's size.
"""


def wanted_workers(connection: Connection, *, tenant_max_running: int = 0) -> int:
    """Run the scaler's query on ``connection``, in whatever transaction it is in, for workers
    started with ``REGTUNE_TENANT_MAX_RUNNING=tenant_max_running``."""
    query = text(scaler_query(connection.dialect.name))
    return int(connection.execute(query, {CAP: tenant_max_running}).scalar_one())
