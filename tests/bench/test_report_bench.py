"""bench.report's quick mode end to end: it seeds a study, starts the API, times the report and
writes its JSON."""

from __future__ import annotations

from bench.report import QUICK_TRIALS
from tests.bench.quick import Bench


def test_report_bench_smoke(bench_with_servers: Bench) -> None:
    _, result = bench_with_servers("report")
    (row,) = result["results"]
    assert row["trials"] == QUICK_TRIALS and 0 < row["points"] <= 3000
    assert row["api_ready_s"] > 0 and row["first_build_s"] > 0  # a started API's first request
    assert row["build_s"] > 0 and row["browser_reload_s"] > 0
    assert row["build_cpu_s"] > 0 and row["browser_first_cpu_s"] > 0
    assert row["dashboard_s"] is not None  # optuna-dashboard's request, side by side
