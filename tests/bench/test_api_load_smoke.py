"""``bench.api_load --quick`` end to end on the session's PostgreSQL server: the searches, the
restart and the one-at-a-time medians it writes."""

from __future__ import annotations

from bench.api_load import ENDPOINTS, QUICK
from tests.bench.quick import Bench
from tests.pg import PostgresServer


def test_api_load_smoke(bench_with_servers: Bench, pg: PostgresServer) -> None:
    stdout, result = bench_with_servers("api_load", "--postgres", str(pg.data_dir))
    assert "| trials | server | processes | sustainable req/s |" in stdout
    setup = result["setup"]
    assert setup["step_seconds"] == QUICK["step"] and setup["small_studies"] == 3
    searches = {(s["target"], s["processes"]) for s in result["searches"]}
    assert setup["processes"] == QUICK["processes"] == 1  # K = 1: one search per server
    assert searches == {("regtune", 1), ("floor", 1), ("optuna-dashboard", 1)}
    assert "the floor's rate" in stdout
    for search in result["searches"]:
        assert search["one_at_a_time_ms"] > 0
        for step in search["steps"]:
            assert step["requests"] == int(step["rate"] * setup["step_seconds"])
            assert 0 < step["loadgen_cpu"] < 1
        if search["steps"]:  # none if one request alone already misses the p99 goal
            assert search["steps"][0]["rate"] == QUICK["first_rate"]
        if search["at_best"]:  # the step at 80 % of the sustainable rate
            assert search["at_80_percent"]["rate"] == round(0.8 * search["sustainable_rate"], 1)
    n = QUICK["sizes"]
    assert list(result["ratios"]) == [n] and list(result["floor_ratios"]) == [n]
    (restart,) = result["restarts"]
    assert restart["processes"] == 1 and restart["requests"] == int(
        restart["rate"] * QUICK["restart_seconds"]
    )
    assert set(result["one_at_a_time_median_ms"][n]) == set(ENDPOINTS)
