"""How many workers the pool could use right now: the one query the autoscaler runs.

KEDA's ``postgresql`` trigger runs :data:`SCALER_QUERY` as it is; the Helm chart renders it from
``deploy/helm/regtune/files/scaler.sql``, which ``make chart-sync`` writes from here and a test
compares byte for byte. Plain SQL (``CASE``, no ``LEAST``/``GREATEST``) so that it runs on
PostgreSQL and SQLite alike.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from service.spec.enums import ACTIVE

SCALER_QUERY = f"""\
SELECT COALESCE(SUM(CASE
    WHEN n_trials - n_done <= 0 OR max_parallel <= 0 THEN 0
    WHEN n_trials - n_done < max_parallel THEN n_trials - n_done
    ELSE max_parallel
END), 0) AS wanted_workers
FROM regtune_studies
WHERE status IN ({", ".join(f"'{status}'" for status in ACTIVE)})
"""
"""For each queued or running study, ``min(max_parallel, n_trials - n_done)``, never negative,
summed: the slots being run plus the slots open, each study capped by its ``max_parallel``.

Completed, cancelled and failed studies want no worker (a cancelled study's running trials stop
at their next epoch). With one trial per worker at a time, this is the number of workers that
have something to do now; a KEDA target of 1 per worker makes it the pool's size.
"""


def wanted_workers(connection: Connection) -> int:
    """Run :data:`SCALER_QUERY` on ``connection``, in whatever transaction it is in."""
    return int(connection.execute(text(SCALER_QUERY)).scalar_one())
