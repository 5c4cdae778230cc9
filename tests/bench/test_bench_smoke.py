"""The benchmarks run: each script's ``--quick`` mode end to end, checking what it writes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.pruning import PRUNERS
from tests.support import Processes


def test_pool_smoke(tmp_path: Path, processes: Processes) -> None:
    done = processes.run(
        [sys.executable, "-m", "bench.pool", "--quick", "--out", str(tmp_path)], timeout=1200
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| backend | workers |" in done.stdout
    result = json.loads((tmp_path / "pool.json").read_text())
    runs = {(r["backend"], r["workers"]): r for r in result["runs"]}
    assert set(runs) == {("sqlite", 1), ("sqlite", 2), ("postgresql", 1), ("postgresql", 2)}
    for run in runs.values():
        assert run["trials"] == max(6, 3 * run["workers"])
        assert run["trials_per_s"] > 0
        assert not run["database_is_locked"]
    # 4 per process (2 workers + the API), plus the benchmark's own progress reader
    assert runs["postgresql", 2]["peak_connections"] <= 4 * 3 + 1
    assert 0.2 <= result["in_memory_s_per_trial"] < 1


def _quick(processes: Processes, name: str, out: Path) -> tuple[str, dict[str, Any]]:
    """Run ``bench.<name> --quick``; return what it printed and the JSON it wrote."""
    done = processes.run(
        [sys.executable, "-m", f"bench.{name}", "--quick", "--out", str(out)], timeout=1200
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((out / f"{name}.json").read_text())
    assert result["quick"] is True and result["machine"]["cores"] >= 1
    assert result["table"] in done.stdout
    return done.stdout, result


def test_overhead_smoke(tmp_path: Path, processes: Processes) -> None:
    stdout, result = _quick(processes, "overhead", tmp_path)
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
        assert row["complete"] == row["n_trials"]
        assert row["wall_s"] > 0
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


def test_api_load_smoke(tmp_path: Path, processes: Processes) -> None:
    stdout, result = _quick(processes, "api_load", tmp_path)
    assert "| trials | server | processes | sustainable req/s |" in stdout
    searches = {(s["target"], s["processes"]) for s in result["searches"]}
    processes = result["setup"]["processes"]
    assert searches == {("regtune", 1), ("regtune", processes), ("optuna-dashboard", 1)}
    for search in result["searches"]:
        assert search["one_at_a_time_ms"] > 0
        for step in search["steps"]:
            assert step["requests"] == int(step["rate"] * result["setup"]["step_seconds"])
            assert 0 < step["loadgen_cpu"] < 1
    assert set(result["one_at_a_time_median_ms"]["300"]) >= {"study", "trial_page", "metrics"}
