"""What a part imports before it works, and what that costs it, before and after, side by side.

A worker split rows with scikit-learn (``worker/data.py`` imported ``sklearn.datasets`` and
``sklearn.model_selection`` at its top: scikit-learn's own top level imports SciPy's statistics
and pandas), and the API imported pandas at its start (``ingest/columns.py``, for one call made
when an upload is read). Now the row draws are NumPy's (``worker/splits.py``, scikit-learn's
draws row for row), scikit-learn is imported only to load its own datasets, and pandas only
when an upload is read.

Each case runs in a fresh interpreter, in turn, ``--repeats`` times (default 10):

- **worker, first trials**: a worker's first claim on data it did not load through scikit-learn
  (a generated sparse regression; an upload is the same), as this code runs it: two trials on 5
  folds and two on a holdout through ``make_objective``. Before: the same, after importing what
  ``worker/data.py`` imported at its top.
- **api, import**: ``import regtune.service.api.app`` (what ``regtune api`` and ``serve``
  import before they serve). Before: the same, after importing pandas, as ``ingest/columns.py``
  did at its top.

Each run reports its own CPU seconds (user + system), its peak resident memory and its wall
time; the table gives the medians and before / after.

    python -m bench.imports [--repeats N]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import textwrap
from typing import Any

from bench import harness

TRIALS = """
import optuna
from regtune.service.spec.definition import StudySpec
from regtune.service.spec.resolve import resolve_task
from regtune.worker.objective import make_objective

optuna.logging.set_verbosity(optuna.logging.WARNING)
for validation in ({"folds": 5}, {"holdout": 0.25}):
    spec = resolve_task(StudySpec.model_validate({
        "name": "imports", "model": {"kind": "linear"},
        "dataset": {"synthetic": {"kind": "sparse_regression", "n_samples": 500,
                                  "n_features": 20, "n_informative": 5}},
        "search_space": {"lambda": {"low": 1e-3, "high": 1.0, "log": True}},
        "validation": validation, "budget": {"n_trials": 2},
    }))
    study = optuna.create_study(direction="minimize")
    study.optimize(make_objective(spec, stop_check=lambda: None), n_trials=2)
    assert all(t.state.name == "COMPLETE" for t in study.trials), study.trials
"""

CASES: dict[str, tuple[str, str]] = {
    "worker, first trials": ("import sklearn.datasets, sklearn.model_selection", TRIALS),
    "api, import": ("import pandas", "import regtune.service.api.app"),
}
"""Case → (what the code before imported besides, the work)."""

PROBE = """
import json, resource, sys, time
started = time.perf_counter()
{before}
{work}
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{
    "cpu_s": usage.ru_utime + usage.ru_stime,
    "peak_mb": usage.ru_maxrss / 1024,
    "wall_s": time.perf_counter() - started,
    "modules": sorted(m for m in ("sklearn", "scipy.stats", "pandas") if m in sys.modules),
}}))
"""


def run_once(before: str, work: str) -> dict[str, Any]:
    """One fresh interpreter: ``before`` (or nothing), then ``work``; what it measured."""
    code = PROBE.format(before=before, work=textwrap.dedent(work))
    ran = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=False
    )
    if ran.returncode != 0:
        raise RuntimeError(f"probe failed: {ran.stderr[-2000:]}")
    found: dict[str, Any] = json.loads(ran.stdout.splitlines()[-1])
    return found


def measure(repeats: int) -> dict[str, dict[str, Any]]:
    """Each case before and after, alternating, ``repeats`` times: medians and ratios."""
    results: dict[str, dict[str, Any]] = {}
    for case, (imported, work) in CASES.items():
        runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
        for _ in range(repeats):
            runs["before"].append(run_once(imported, work))
            runs["after"].append(run_once("", work))
        medians = {
            side: {
                k: statistics.median(r[k] for r in found) for k in ("cpu_s", "peak_mb", "wall_s")
            }
            for side, found in runs.items()
        }
        results[case] = {
            "before": medians["before"],
            "after": medians["after"],
            "modules": {side: found[0]["modules"] for side, found in runs.items()},
            "runs": runs,
        }
    return results


def main(argv: list[str] | None = None) -> None:
    args = harness.parse_args(__doc__ or "", argv)
    repeats = args.repeats or (1 if args.quick else 10)
    results = measure(repeats)
    rows = []
    for case, r in results.items():
        b, a = r["before"], r["after"]
        rows.append(
            [
                case,
                round(b["cpu_s"], 2),
                round(a["cpu_s"], 2),
                round(b["cpu_s"] / a["cpu_s"], 2),
                round(b["peak_mb"]),
                round(a["peak_mb"]),
                round(b["peak_mb"] / a["peak_mb"], 2),
                round(b["wall_s"], 2),
                round(a["wall_s"], 2),
                ", ".join(r["modules"]["after"]) or "none",
            ]
        )
    headers = [
        "case",
        "CPU s before",
        "CPU s after",
        "before / after",
        "peak MB before",
        "peak MB after",
        "before / after",
        "wall s before",
        "wall s after",
        "of scikit-learn, SciPy's statistics, pandas, imported after",
    ]
    markdown = harness.table(headers, rows)
    harness.publish(
        args.out, "imports", {"quick": args.quick, "repeats": repeats, "results": results}, markdown
    )


if __name__ == "__main__":
    main()
