"""The benchmarks run: each script's ``--quick`` mode end to end, checking what it writes.

Those that need PostgreSQL use the session's server (``--postgres``) instead of starting one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.api_load import ENDPOINTS, QUICK
from bench.pool import QUICK_TRIALS
from bench.pruning import PRUNERS
from tests.pg import PostgresServer
from tests.support import Processes


def test_pool_smoke(tmp_path: Path, processes: Processes, pg: PostgresServer) -> None:
    stdout, result = _quick(processes, "pool", tmp_path, pg)
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


def _quick(
    processes: Processes, name: str, out: Path, pg: PostgresServer | None = None
) -> tuple[str, dict[str, Any]]:
    """Run ``bench.<name> --quick`` (on ``pg``, if given); return what it printed and the JSON
    it wrote."""
    server = ["--postgres", str(pg.data_dir)] if pg else []
    done = processes.run(
        [sys.executable, "-m", f"bench.{name}", "--quick", "--out", str(out), *server],
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((out / f"{name}.json").read_text())
    assert result["quick"] is True and result["machine"]["cores"] >= 1
    assert result["table"] in done.stdout
    return done.stdout, result


def test_overhead_smoke(tmp_path: Path, processes: Processes, pg: PostgresServer) -> None:
    stdout, result = _quick(processes, "overhead", tmp_path, pg)
    assert "| trial | configuration |" in stdout
    rows = {r["config"]: r for r in result["rows"]}
    assert set(rows) == {
        "memory",
        "optuna-sqlite",
        "optuna-sqlite-wal",
        "optuna-postgresql",
        "regtune-sqlite",
        "regtune-postgresql",
    }
    for row in rows.values():  # every trial ran, through the service too
        assert row["complete"] == row["n_trials"] >= 2
        assert row["wall_s"] > 0 and row["ratio_vs_a"] > 0
    assert rows["memory"]["ratio_vs_a"] == 1.0
    assert rows["regtune-postgresql"]["status"] == "completed"


def test_pruning_smoke(tmp_path: Path, processes: Processes) -> None:
    stdout, result = _quick(processes, "pruning", tmp_path)
    assert "| dataset | pruner |" in stdout
    assert {r["pruner"] for r in result["rows"]} == set(PRUNERS)
    none = next(r for r in result["runs"] if r["pruner"] == "none")
    assert none["pruned"] == 0 and none["saved_fraction"] == 0 and none["equal_quality"]
    for run in result["runs"]:
        assert 0 < run["epochs"] <= 4 * 4  # 4 trials of at most 4 epochs
        assert -1 <= run["best_test"] <= 1  # an R² on held-out rows


def test_quality_smoke(tmp_path: Path, processes: Processes) -> None:
    stdout, result = _quick(processes, "quality", tmp_path)
    assert "| dataset | metric | splits |" in stdout
    rows = {r["dataset"]: r for r in result["rows"]}
    assert set(rows) == {"diabetes", "sparse"}
    assert all(r["splits"] == 2 for r in rows.values())
    assert rows["diabetes"]["sklearn"] > 0.2  # ElasticNetCV's test R²
    assert 0 < rows["sparse"]["sklearn_recall"] <= 1 and "regtune_precision" in rows["sparse"]
    assert {r["seed"] for r in result["runs"]} == {0, 1}


def test_api_load_smoke(tmp_path: Path, processes: Processes, pg: PostgresServer) -> None:
    stdout, result = _quick(processes, "api_load", tmp_path, pg)
    assert "| trials | server | processes | sustainable req/s |" in stdout
    setup = result["setup"]
    assert setup["step_seconds"] == QUICK["step"] and setup["small_studies"] == 3
    searches = {(s["target"], s["processes"]) for s in result["searches"]}
    k = setup["processes"]
    assert searches == {("regtune", 1), ("regtune", k), ("optuna-dashboard", 1)}
    for search in result["searches"]:
        assert search["one_at_a_time_ms"] > 0
        for step in search["steps"]:
            assert step["requests"] == int(step["rate"] * setup["step_seconds"])
            assert 0 < step["loadgen_cpu"] < 1
        if search["steps"]:  # none if one request alone already misses the p99 goal
            assert search["steps"][0]["rate"] == QUICK["first_rate"]
    n = QUICK["sizes"]
    assert list(result["ratios"]) == [n]
    assert set(result["one_at_a_time_median_ms"][n]) == set(ENDPOINTS)
