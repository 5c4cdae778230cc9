"""``bench.solver --quick`` runs end to end and writes what its table shows."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.support import Processes


def test_solver_bench_smoke(tmp_path: Path, processes: Processes) -> None:
    done = processes.run(
        [sys.executable, "-m", "bench.solver", "--quick", "--out", str(tmp_path)], timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "solver.json").read_text())
    assert result["quick"] is True and result["table"] in done.stdout
    methods = {row["method"] for row in result["rows"]}
    assert {"cold", "warm", "study exact", "scikit-learn CV"} <= methods
    for row in result["rows"]:
        assert row["wall_s"] > 0
        if row["method"] in {"cold", "warm"}:
            assert row["iterations"] > 0 and row["fits"] > 0
