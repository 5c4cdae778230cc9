"""The benchmarks run: each script's ``--quick`` mode end to end, checking what it writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT


def test_pool_smoke(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.pool", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
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
    assert runs["postgresql", 2]["peak_connections"] <= 4 * 3  # 2 workers + the API
    assert 0.2 <= result["in_memory_s_per_trial"] < 1
