"""How the worker pool scales: trials per second with 1 to 8 workers on SQLite, 1 to 32 on
PostgreSQL.

Each trial is ``bench.sleep_objective``: 1 s of sleep over 10 reported epochs (with
``should_prune`` and the worker's cancellation check after each), run by real ``regtune worker``
processes through the real claim → Optuna trial → finish protocol, with an API process beside
them, on SQLite and on PostgreSQL. Sleeping instead of training means the database and the
protocol are what is measured, not the CPU. The baseline is the same objective in one process
with Optuna's in-memory storage; the difference per trial is the pool's overhead.

Throughput is the study's trials over the span from its first trial's start to its last trial's
end, so process start-up is excluded. While a PostgreSQL run goes, the connections to its
database are sampled, and the CPU seconds the workers, the API and PostgreSQL used per trial are
read from /proc: on a small machine that, not the database's locks, is what bounds the scaling;
so is each worker's resident memory (the mean over the workers, at 90 % of the study).

``--quick`` is a smoke run: per backend one API and 2 workers on one database, and two studies
of 4 trials of 0.05 s, with at most 1 and then 2 trials at a time (the rows "1 worker" and
"2 workers"); the two backends run at the same time.

    python -m bench.pool [--quick]
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench import harness
from bench.harness import cpu_seconds
from tests.pg import PostgresServer
from tests.support import wait_for

SLEEP_SECONDS = 1.0
EPOCHS = 10
WORKERS = {"sqlite": (1, 2, 4, 8), "postgresql": (1, 2, 4, 8, 16, 32)}
BACKENDS = tuple(WORKERS)
TRIALS_PER_WORKER = 20
QUICK_SLEEP_SECONDS = 0.05
QUICK_WORKERS = (1, 2)
QUICK_TRIALS = 4
"""Trials per run in ``--quick``, whatever the number of workers."""


def definition(n_trials: int, max_parallel: int) -> dict[str, Any]:
    """The study every run submits; the sleep objective never loads its data."""
    return {
        "name": f"pool-{max_parallel}",
        "dataset": {"builtin": "diabetes"},
        "model": {"kind": "linear"},
        "search_space": {
            "lambda": {"low": 1e-5, "high": 10.0, "log": True},
            "l1_ratio": {"low": 0.0, "high": 1.0},
            "learning_rate": {"low": 1e-4, "high": 1e-1, "log": True},
        },
        "training": {"solver": "minibatch", "max_epochs": EPOCHS},
        "sampler": {"type": "random", "seed": 0},
        "pruner": {"type": "none"},
        "budget": {"n_trials": n_trials, "max_parallel": max_parallel},
    }


def in_memory_seconds_per_trial(n_trials: int, sleep_seconds: float) -> float:
    """The same objective, one process, Optuna's in-memory storage: the floor per trial."""
    import optuna

    from bench.sleep_objective import make_objective
    from regtune.service.spec.definition import StudySpec
    from regtune.service.spec.resolve import resolve_task
    from regtune.worker.policies import make_pruner, make_sampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = resolve_task(StudySpec.model_validate(definition(n_trials, 1)))
    study = optuna.create_study(sampler=make_sampler(spec), pruner=make_pruner(spec))
    objective = make_objective(spec, stop_check=lambda: None, trial_seconds=sleep_seconds)
    start = time.perf_counter()
    study.optimize(objective, n_trials=n_trials)
    return (time.perf_counter() - start) / n_trials


# ---------------------------------------------------------------------- what a run costs


def resident_mb(pid: int) -> float:
    """Resident memory of a live process in MB (0 if it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    kb = next((int(line.split()[1]) for line in status.splitlines() if line[:6] == "VmRSS:"), 0)
    return kb / 1024


def postgres_pids(server: PostgresServer) -> list[int]:
    """The postmaster and its children (backends, checkpointer, WAL writer...)."""
    postmaster = int((server.data_dir / "postmaster.pid").read_text().split()[0])
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == postmaster:
                children.append(int(entry.name))
    return [postmaster, *children]


def transactions(server: PostgresServer, database: str) -> int:
    """Transactions committed or rolled back in ``database`` so far (PostgreSQL's own count)."""
    import psycopg

    dsn = f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
            (database,),
        ).fetchone()
    return int(row[0]) if row else 0


class ConnectionWatch(threading.Thread):
    """Samples how many connections the run's database has, from outside the pool."""

    def __init__(self, server: PostgresServer, database: str) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.database = database
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        import psycopg

        dsn = f"host=127.0.0.1 port={self.server.port} user=postgres dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            while not self.done.wait(0.1):
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (self.database,)
                ).fetchone()
                self.peak = max(self.peak, int(row[0]) if row else 0)


# ---------------------------------------------------------------------- one run


class Progress:
    """Reads the study's ``n_done`` straight from the database (not through the API)."""

    def __init__(self, url: str, study_id: str) -> None:
        from sqlalchemy import create_engine, text

        self.engine = create_engine(url)
        self.query = text("SELECT n_done FROM regtune_studies WHERE id = :id")
        self.study_id = study_id

    def done(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(self.query, {"id": self.study_id}).scalar() or 0)

    def close(self) -> None:
        self.engine.dispose()


def start_service(
    kind: str,
    server: PostgresServer | None,
    tmp: Path,
    label: str,
    *,
    sleep_seconds: float,
    workers: int,
) -> tuple[harness.Service, str]:
    """The API and ``workers`` workers on a fresh database; returns once they registered."""
    url = harness.fresh_database(kind, tmp, server, label)
    env = {
        "REGTUNE_OBJECTIVE_FACTORY": "bench.sleep_objective:make_objective",
        "REGTUNE_SLEEP_TRIAL_SECONDS": str(sleep_seconds),
        "REGTUNE_POLL_MIN": "0.05",
        "REGTUNE_POLL_MAX": "0.5",
        "REGTUNE_LOG_LEVEL": "WARNING",
    }
    service = harness.Service(url, tmp, **env)
    try:
        service.start_api("--workers", "1").start_workers(workers)
        wait_registered(service, workers)
    except BaseException:
        service.stop()
        raise
    return service, url


def wait_registered(service: harness.Service, n_workers: int) -> None:
    wait_for(
        lambda: len(httpx.get(f"{service.url}/v1/workers", timeout=30).json()) == n_workers,
        timeout=900,
        interval=0.2,
        what=f"{n_workers} workers registered",
    )


def run_pool(
    service: harness.Service,
    url: str,
    n_trials: int,
    server: PostgresServer | None,
    *,
    n_workers: int,
) -> dict[str, Any]:
    """One study of ``n_trials``, at most ``n_workers`` trials at a time, on the service's
    workers; throughput and what it cost.

    CPU per trial is taken between 10 % and 90 % of the study, so start-up (imports) and the
    end (the finishing worker retrains and stores the best model) are left out.
    """
    import optuna

    kind = "sqlite" if server is None else "postgresql"
    watch = None
    database = url.rsplit("/", 1)[1]
    if server is not None:
        watch = ConnectionWatch(server, database)
        watch.start()

    def cpu() -> tuple[float, float, float, float, int]:
        """(time, workers, API, PostgreSQL) CPU seconds so far, and transactions."""
        pg = sum(cpu_seconds(pid) for pid in postgres_pids(server)) if server else 0.0
        procs = service.procs
        return (
            time.monotonic(),
            sum(cpu_seconds(p.pid) for p in procs[1:]),
            cpu_seconds(procs[0].pid),
            pg,
            transactions(server, database) if server else 0,
        )

    study_id = service.submit(definition(n_trials, n_workers))
    progress = Progress(url, study_id)
    marks: list[tuple[int, tuple[float, float, float, float, int]]] = []
    for share in (0.1, 0.9):
        threshold = max(1, round(n_trials * share))

        def reached(t: int = threshold) -> int | bool:
            return (d := progress.done()) >= t and d

        done = wait_for(
            reached,
            timeout=max(600, n_trials * 5),
            interval=0.05,
            what=f"{threshold} trials",
        )
        marks.append((done, cpu()))
    worker_mb = [resident_mb(p.pid) for p in service.procs[1 : n_workers + 1]]
    progress.close()
    study = service.wait_done(study_id, timeout=max(600, n_trials * 5))
    if watch is not None:
        watch.done.set()
        watch.join()
    locked = "database is locked" in service.logs()

    storage = optuna.storages.RDBStorage(url)
    trials = storage.get_all_trials(storage.get_study_id_from_name(study["optuna_study_name"]))
    storage.engine.dispose()
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    starts = [t.datetime_start for t in trials if t.datetime_start]
    span = (max(ends) - min(starts)).total_seconds()
    done = study["progress"]["done"]
    (done_a, a), (done_b, b) = marks
    steady = max(1, done_b - done_a)
    return {
        "backend": kind,
        "workers": n_workers,
        "trials": done,
        "trials_total": len(trials),
        "seconds": round(span, 3),
        "trials_per_s": done / span,
        "steady_trials_per_s": steady / (b[0] - a[0]) if b[0] > a[0] else None,
        "seconds_per_trial_per_worker": span * n_workers / done,
        "cpu_s_per_trial": {
            "workers": (b[1] - a[1]) / steady,
            "api": (b[2] - a[2]) / steady,
            "postgresql": (b[3] - a[3]) / steady if server else None,
        },
        "transactions_per_trial": (b[4] - a[4]) / steady if server else None,
        "peak_connections": watch.peak if watch else None,
        "worker_mb": sum(worker_mb) / len(worker_mb),
        "database_is_locked": locked,
    }


def quick_runs(
    kind: str, server: PostgresServer, tmp: Path, *, sleep_seconds: float
) -> list[dict[str, Any]]:
    """``--quick``'s runs of one backend: one API, database and pool; each study uses n of its
    workers."""
    pg = server if kind == "postgresql" else None
    service, url = start_service(
        kind, pg, tmp, kind, sleep_seconds=sleep_seconds, workers=max(QUICK_WORKERS)
    )
    with service:
        return [run_pool(service, url, QUICK_TRIALS, pg, n_workers=n) for n in QUICK_WORKERS]


def main(argv: list[str] | None = None) -> None:
    args = harness.parse_args(__doc__ or "", argv)
    sleep_seconds = QUICK_SLEEP_SECONDS if args.quick else SLEEP_SECONDS
    baseline = in_memory_seconds_per_trial(QUICK_TRIALS if args.quick else 50, sleep_seconds)
    runs: list[dict[str, Any]] = []

    def measured(run: dict[str, Any]) -> None:
        runs.append(run)
        name, n, rate = run["backend"], run["workers"], run["trials_per_s"]
        print(f"{name:10} {n:2} workers: {rate:.2f} trials/s", flush=True)

    with harness.scratch("pool") as tmp, harness.postgres(args.postgres) as server:
        if args.quick:  # a smoke run's figures mean nothing: both backends at once
            quick = partial(quick_runs, server=server, tmp=tmp, sleep_seconds=sleep_seconds)
            with ThreadPoolExecutor(len(BACKENDS)) as threads:
                for found in list(threads.map(quick, BACKENDS)):
                    for run in found:
                        measured(run)
        for kind, n in [] if args.quick else [(k, n) for k in BACKENDS for n in WORKERS[k]]:
            pg = server if kind == "postgresql" else None
            service, url = start_service(
                kind, pg, tmp, f"{kind}{n}", sleep_seconds=sleep_seconds, workers=n
            )
            with service:
                measured(run_pool(service, url, max(6, TRIALS_PER_WORKER * n), pg, n_workers=n))

    rows = []
    for r in runs:
        one = next(x for x in runs if x["backend"] == r["backend"] and x["workers"] == 1)
        r["speedup"] = r["trials_per_s"] / one["trials_per_s"]
        r["ideal_trials_per_s"] = r["workers"] / sleep_seconds
        r["overhead_s_per_trial"] = r["seconds_per_trial_per_worker"] - baseline
        cpu = r["cpu_s_per_trial"]
        rows.append(
            [
                r["backend"],
                r["workers"],
                r["trials"],
                r["trials_per_s"],
                r["ideal_trials_per_s"],
                r["speedup"],
                r["overhead_s_per_trial"] * 1000,
                cpu["workers"] * 1000,
                None if cpu["postgresql"] is None else cpu["postgresql"] * 1000,
                r["transactions_per_trial"],
                r["worker_mb"],
                r["peak_connections"],
            ]
        )
    markdown = harness.table(
        [
            "backend",
            "workers",
            "trials",
            "trials/s",
            "ideal trials/s",
            "speed-up vs 1",
            "overhead ms/trial",
            "worker CPU ms/trial",
            "PostgreSQL CPU ms/trial",
            "PostgreSQL transactions/trial",
            "worker MB",
            "peak connections",
        ],
        rows,
    )
    markdown += (
        f"\n\nIn-memory Optuna, one process, same objective: {baseline * 1000:.1f} ms per trial "
        f"({sleep_seconds * 1000:.0f} ms of it sleeping). Overhead = seconds per trial per worker "
        "in the pool minus that."
    )
    harness.publish(
        args.out,
        "pool",
        {
            "sleep_seconds": sleep_seconds,
            "epochs": EPOCHS,
            "quick": args.quick,
            "in_memory_s_per_trial": baseline,
            "runs": runs,
        },
        markdown,
    )


if __name__ == "__main__":
    main()
