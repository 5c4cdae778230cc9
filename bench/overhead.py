"""What regtune costs on top of the training itself, against plain Optuna, per trial.

One objective (``bench.sleep_objective``: sleep T seconds spread over 10 reported epochs, with
``should_prune`` after each), one search space, one sampler seed, run

  (a) in one process with Optuna's in-memory storage — the baseline;
  (b) in one process with Optuna's RDBStorage on SQLite and on PostgreSQL (what a user of plain
      Optuna runs; SQLite as Optuna opens it, and once more with regtune's WAL pragmas);
  (c) through regtune end to end: one API process and one worker process, the study submitted
      over HTTP, every trial claimed and finished through the claim protocol.

For (a) and (b) the time is that of ``study.optimize``; for (c) it is from the first claim to the
last finish (the study's ``started_at`` → ``finished_at``), so start-up is excluded in every case.
Beside the wall time, the CPU seconds per trial of each process: the one process of (a) and (b)
over ``study.optimize``; for (c) the worker's and the API's (from /proc) from the study's first
finished trial to its last but one (its row read every 10 ms): the steady state, without the
first trial's set-up or the best model's retraining, which follows the last.

``--quick`` is a smoke run: 3 trials of 0.02 s per configuration, the in-process ones one after
another in a single child process, and that child and the two services at the same time.

    python -m bench.overhead [--quick]
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench import harness
from bench.pool import wait_registered
from tests.support import wait_for

EPOCHS = 10
IN_PROCESS = ("memory", "optuna-sqlite", "optuna-sqlite-wal", "optuna-postgresql")
SERVICE = ("regtune-sqlite", "regtune-postgresql")
LABELS = {
    "memory": "(a) Optuna, in-memory",
    "optuna-sqlite": "(b) Optuna RDBStorage, SQLite",
    "optuna-sqlite-wal": "(b) Optuna RDBStorage, SQLite + WAL",
    "optuna-postgresql": "(b) Optuna RDBStorage, PostgreSQL",
    "regtune-sqlite": "(c) regtune API + 1 worker, SQLite",
    "regtune-postgresql": "(c) regtune API + 1 worker, PostgreSQL",
}


def definition(n_trials: int, name: str = "overhead") -> dict[str, Any]:
    """The study every configuration runs; the data is never loaded by the sleep objective."""
    return {
        "name": name,
        "dataset": {"builtin": "diabetes"},
        "model": {"kind": "linear"},
        "search_space": {
            "lambda": {"low": 1e-5, "high": 10.0, "log": True},
            "l1_ratio": {"low": 0.0, "high": 1.0},
            "dropout": {"low": 0.0, "high": 0.5},
            "learning_rate": {"low": 1e-4, "high": 1e-1, "log": True},
        },
        "training": {"solver": "minibatch", "max_epochs": EPOCHS},
        "sampler": {"type": "tpe", "seed": 0},
        "pruner": {"type": "none"},
        "budget": {"n_trials": n_trials, "max_parallel": 1},
    }


# ---------------------------------------------------------------------- (a) and (b): one process


def run_in_process(config: str, url: str | None, seconds: float, n_trials: int) -> dict[str, Any]:
    """Runs in a child process so that one configuration's imports and pragmas stay its own."""
    import optuna

    if config == "optuna-sqlite-wal":
        import regtune.service.store.db  # noqa: F401 - registers regtune's SQLite pragmas on every engine

    from bench.sleep_objective import make_objective
    from regtune.service.spec.definition import StudySpec
    from regtune.service.spec.resolve import resolve_task
    from regtune.worker.policies import make_pruner, make_sampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = resolve_task(StudySpec.model_validate(definition(n_trials)))
    study = optuna.create_study(
        storage=url, sampler=make_sampler(spec), pruner=make_pruner(spec), direction="minimize"
    )
    objective = make_objective(spec, stop_check=lambda: None, trial_seconds=seconds)
    started, cpu = time.perf_counter(), time.process_time()
    study.optimize(objective, n_trials=n_trials, gc_after_trial=False)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    complete = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    return {"wall_s": wall, "complete": complete, "cpu_s": {"process": cpu}}


def _child(
    runs: list[tuple[str, str | None]], seconds: float, n_trials: int
) -> list[dict[str, Any]]:
    """``run_in_process`` for each (configuration, URL) of ``runs``, in order, in a child
    process."""
    code = (
        "import json, sys; from bench.overhead import run_in_process; "
        "print(json.dumps([run_in_process(config, url, *json.loads(sys.argv[2])) "
        "for config, url in json.loads(sys.argv[1])]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(runs), json.dumps([seconds, n_trials])],
        cwd=harness.ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


# ---------------------------------------------------------------------- (c): the service


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)


def run_service(url: str, tmp: Path, seconds: float, n_trials: int) -> dict[str, Any]:
    env = {
        "REGTUNE_OBJECTIVE_FACTORY": "bench.sleep_objective:make_objective",
        "REGTUNE_SLEEP_TRIAL_SECONDS": str(seconds),
        "REGTUNE_POLL_MAX": "0.5",
    }
    with harness.Service(url, tmp, **env) as service:
        # one API process: the one whose CPU is read (with several, uvicorn's supervisor's)
        service.start_api("--workers", "1").start_workers(1)
        wait_registered(service, 1)  # its imports are start-up, not the trials' cost
        pids = {"worker": service.procs[1].pid, "api": service.procs[0].pid}
        study_id = service.submit(definition(n_trials, name=f"overhead-{seconds:g}"))
        first, last = 1, n_trials - 1
        timeout = 120 + n_trials * (seconds + 2) * 3
        cpu = cpu_between(url, study_id, pids, first, last, timeout=timeout)
        study = service.wait_done(study_id, timeout=timeout)
    wall = (_when(study["finished_at"]) - _when(study["started_at"])).total_seconds()
    return {
        "wall_s": wall,
        "complete": study["counts"]["COMPLETE"],
        "status": study["status"],
        "cpu_s": cpu,
        "cpu_trials": last - first,
    }


def cpu_between(
    url: str, study_id: str, pids: dict[str, int], first: int, last: int, *, timeout: float
) -> dict[str, float]:
    """CPU seconds of each process while the study went from ``first`` to ``last`` finished
    trials (read from its row every 10 ms): the steady state, without the first trial's set-up
    or the best model's retraining after the last."""
    from regtune.service.store.db import make_engine
    from regtune.service.store.tables import StudyRow

    engine = make_engine(url)

    def done() -> int:
        with engine.connect() as connection:
            query = select(StudyRow.n_done).where(StudyRow.id == study_id)
            return int(connection.execute(query).scalar_one())

    try:
        wait_for(lambda: done() >= first, timeout=timeout, interval=0.01, what="first trial")
        before = {name: harness.cpu_seconds(pid) for name, pid in pids.items()}
        wait_for(lambda: done() >= last, timeout=timeout, interval=0.01, what="last trial")
        return {name: harness.cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    finally:
        engine.dispose()


# ---------------------------------------------------------------------- the table


Results = list[tuple[str, dict[str, Any]]]
"""(configuration, its result) pairs."""


def _in_process(runs: list[tuple[str, str | None]], seconds: float, n_trials: int) -> Results:
    return list(zip([c for c, _ in runs], _child(runs, seconds, n_trials), strict=True))


def _service(config: str, url: str, tmp: Path, seconds: float, n_trials: int) -> Results:
    return [(config, run_service(url, tmp, seconds, n_trials))]


def measure(quick: bool, postgres: Path | None = None) -> list[dict[str, Any]]:
    """Every configuration at each plan's trial length, one after another.

    Each in-process configuration runs in a child of its own, so that one configuration's
    imports and pragmas stay its own. ``quick`` is a smoke run whose numbers mean nothing: the
    in-process configurations share one child (in ``IN_PROCESS``'s order: the WAL pragmas, once
    registered, touch only the SQLite engines after them), and it and the two services run at
    the same time.
    """
    plans = [(0.02, 3)] if quick else [(1.0, 30), (0.1, 100)]
    rows: list[dict[str, Any]] = []
    with harness.postgres(postgres) as server, harness.scratch("overhead") as tmp:

        def url_of(config: str) -> str | None:
            if config == "memory":
                return None
            kind = "postgresql" if config.endswith("postgresql") else "sqlite"
            return harness.fresh_database(kind, tmp, server, config.replace("-", "_"))

        for seconds, n_trials in plans:
            runs = [(config, url_of(config)) for config in IN_PROCESS]
            groups = [runs] if quick else [[run] for run in runs]
            tasks: list[Callable[[], Results]] = [
                partial(_in_process, group, seconds, n_trials) for group in groups
            ]
            for config in SERVICE:
                url = str(url_of(config))
                tasks.append(partial(_service, config, url, tmp, seconds, n_trials))
            if quick:
                with ThreadPoolExecutor(len(tasks)) as pool:
                    done = list(pool.map(lambda task: task(), tasks))
            else:
                done = [task() for task in tasks]
            for config, result in (pair for results in done for pair in results):
                rows.append({"config": config, "trial_s": seconds, "n_trials": n_trials, **result})
                print(f"  {config:20s} {seconds:g} s x {n_trials}: {result}", flush=True)
    return rows


def summarize(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    baseline = {r["trial_s"]: r for r in rows if r["config"] == "memory"}
    out: list[dict[str, Any]] = []
    for r in rows:
        base = baseline[r["trial_s"]]
        per_trial_ms = 1000 * r["wall_s"] / r["n_trials"]
        base_ms = 1000 * base["wall_s"] / base["n_trials"]
        out.append(
            {
                **r,
                "label": LABELS[r["config"]],
                "ms_per_trial": per_trial_ms,
                "sleep_ms_per_trial": 1000 * r["trial_s"],
                "overhead_vs_sleep_ms": per_trial_ms - 1000 * r["trial_s"],
                "overhead_vs_a_ms": per_trial_ms - base_ms,
                "ratio_vs_a": r["wall_s"] / base["wall_s"] * base["n_trials"] / r["n_trials"],
            }
        )
    headers = [
        "trial",
        "configuration",
        "trials",
        "ms/trial",
        "overhead over (a), ms/trial",
        "ratio to (a)",
        "overhead over the bare sleep, ms/trial",
        "CPU ms/trial by process",
    ]
    table_rows = [
        [
            f"{r['trial_s']:g} s / {EPOCHS} epochs",
            r["label"],
            f"{r['complete']}/{r['n_trials']}",
            round(r["ms_per_trial"], 1),
            round(r["overhead_vs_a_ms"], 1),
            f"{r['ratio_vs_a']:.3f}",
            round(r["overhead_vs_sleep_ms"], 1),
            ", ".join(
                f"{name} {1000 * seconds / r.get('cpu_trials', r['n_trials']):.1f}"
                for name, seconds in r["cpu_s"].items()
            ),
        ]
        for r in out
    ]
    return out, harness.table(headers, table_rows)


def main(argv: list[str] | None = None) -> None:
    args = harness.parse_args(__doc__ or "", argv)
    rows, markdown = summarize(measure(args.quick, args.postgres))
    harness.publish(args.out, "overhead", {"quick": args.quick, "rows": rows}, markdown)


if __name__ == "__main__":
    main()
