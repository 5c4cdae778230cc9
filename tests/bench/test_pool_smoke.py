"""``bench.pool --quick`` end to end on SQLite and the session's PostgreSQL server."""

from __future__ import annotations

from bench.pool import QUICK_TRIALS
from tests.bench.quick import Bench
from tests.pg import PostgresServer


def test_pool_smoke(bench_with_servers: Bench, pg: PostgresServer) -> None:
    stdout, result = bench_with_servers("pool", "--postgres", str(pg.data_dir))
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
