"""The benchmarks run: each script's ``--quick`` mode end to end, checking what it writes.

Those that need PostgreSQL use the session's server (``--postgres``) instead of starting one.
"""

from __future__ import annotations

from pathlib import Path

from bench.pool import QUICK_TRIALS
from tests.bench.quick import in_child
from tests.pg import PostgresServer
from tests.support import Processes


def test_pool_smoke(tmp_path: Path, processes: Processes, pg: PostgresServer) -> None:
    stdout, result = in_child(processes, "pool", tmp_path, pg)
    assert "| backend | workers |" in stdout
    runs = {(r["backend"], r["workers"]): r for r in result["runs"]}
    assert set(runs) == {("sqlite", 1), ("sqlite", 2), ("postgresql", 1), ("postgresql", 2)}
    for run in runs.values():
        assert run["trials"] == run["trials_total"] == QUICK_TRIALS
        assert run["trials_per_s"] > 0 and run["speedup"] > 0
        assert not run["database_is_locked"]
    # 4 per process (2 workers + the API), plus the benchmark's own progress reader
    assert 0 < runs["postgresql", 2]["peak_connections"] <= 4 * 3 + 1
    # PostgreSQL publishes its transaction counts at most once a second: a 4-trial smoke run may
    # finish in between, so only the full run's figure means something
    assert runs["postgresql", 2]["transactions_per_trial"] >= 0
    sleep = result["sleep_seconds"]
    assert sleep <= result["in_memory_s_per_trial"] < sleep + 0.5
