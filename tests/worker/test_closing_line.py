"""A worker's closing line counts the trials it wrote: a λ path's claim writes one trial per
point, where the line said "stopped after 2 trials" for a worker that wrote a dozen."""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.support import Processes, regtune

POINTS = 6


def path_study() -> dict[str, Any]:
    return {
        "name": f"closing-{uuid.uuid4().hex[:8]}",
        "dataset": {"synthetic": {"kind": "sparse_regression", "n_samples": 200}},
        "model": {"kind": "linear"},
        "search_space": {
            "lambda": {"low": 1e-4, "high": 1.0, "log": True},
            "l1_ratio": {"low": 0.0, "high": 1.0},
        },
        "training": {"lambda_path": {"points": POINTS, "patience": None}},
        "sampler": {"type": "random", "seed": 0},
        "pruner": {"type": "none"},
        "budget": {"n_trials": 4 * POINTS, "max_parallel": POINTS},
    }


def test_the_closing_line_counts_a_paths_trials(processes: Processes, sqlite_url: str) -> None:
    stack = processes.stack(sqlite_url).start_api()
    study = stack.submit(path_study())

    result = processes.run(regtune("worker", "--max-trials", "2"), env=stack.env, timeout=300)

    assert result.returncode == 0, result.stderr
    counts = stack.study(study["id"])["counts"]
    written = sum(counts.values())
    assert written > 2, counts  # two claims, each a path of several points
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    closing = lines[-1]
    assert closing["msg"].endswith(
        f"stopped: {written} trials written in 2 claims ({written} of them on 2 λ paths)"
    ), closing
    assert (closing["trials_written"], closing["claims"]) == (written, 2), closing
