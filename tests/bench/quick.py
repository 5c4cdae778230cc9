"""Running a benchmark's ``--quick`` mode for the smoke tests."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.pg import PostgresServer
from tests.support import Processes


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
