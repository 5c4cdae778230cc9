"""bench.report's quick mode end to end: it seeds a study, starts the API, times the report and
writes its JSON."""

from __future__ import annotations

from pathlib import Path

from bench.report import QUICK_TRIALS
from tests.bench.quick import in_child
from tests.support import Processes


def test_report_bench_smoke(tmp_path: Path, processes: Processes) -> None:
    _, result = in_child(processes, "report", tmp_path)
    (row,) = result["results"]
    assert row["trials"] == QUICK_TRIALS and 0 < row["points"] <= 3000
    assert row["api_ready_s"] > 0 and row["first_build_s"] > 0  # a started API's first request
    assert row["build_s"] > 0 and row["browser_reload_s"] > 0
    assert row["build_cpu_s"] > 0 and row["browser_first_cpu_s"] > 0
    assert row["dashboard_s"] is not None  # optuna-dashboard's request, side by side
