"""``bench.fused --quick`` runs end to end and writes what its tables show."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.support import Processes


def test_fused_bench_smoke(tmp_path: Path, processes: Processes) -> None:
    done = processes.run(
        [sys.executable, "-m", "bench.fused", "--quick", "--out", str(tmp_path)], timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "fused.json").read_text())
    assert result["table"] in done.stdout
    assert {row["k"] for row in result["speed"]} == {1, 4}
    for row in result["speed"]:
        assert row["trials"] == row["done"] == 4 and row["cpu_s"] > 0
    assert all(row["fused_cpu_s"] > 0 for row in result["training_alone"])
    assert all(row["k8_mean"] > 0 for row in result["quality"])
