"""What one trial costs the database and the worker: statements, transactions and CPU, by call.

A worker runs in this process on a fresh database (SQLite, and PostgreSQL unless ``--sqlite``)
with the sleep objective (``bench.sleep_objective``: 10 reported epochs, ``should_prune`` after
each) and a zero-second sleep, so that everything measured is the service's own cost. SQLAlchemy
event counters on every engine of the process (regtune's and Optuna's) count the statements, the
transactions (``begin``) and the connections opened, each statement attributed to the call of
the worker loop, the objective or Optuna's optimize loop it comes from. CPU is the process's
CPU seconds over the measured trials (the worker's own; for SQLite it includes the database's).

Flatness: the same on studies that already have 100 and 10,000 finished trials (with the random
sampler, so that only the service's cost can grow with the study).

Each database is measured in a child process of its own (its own engines); ``--quick`` (a smoke
run: 10 and 50 finished trials, 5 measured trials) measures them one after another in this one.

    python -m bench.trial_cost [--quick] [--sqlite] [--trials N]
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from bench import harness

EPOCHS = 10
BOUNDARIES = (
    os.path.join("worker", "loop.py"),
    os.path.join("worker", "trial_run.py"),
    os.path.join("worker", "heartbeat.py"),
    os.path.join("worker", "hand_back.py"),
    os.path.join("worker", "model_save.py"),
    os.path.join("worker", "outcomes.py"),
    os.path.join("bench", "sleep_objective.py"),
    os.path.join("worker", "search.py"),
    os.path.join("optuna", "study", "_optimize.py"),
    os.path.join("optuna", "study", "study.py"),
    os.path.join("optuna", "trial", "_trial.py"),
)
"""Files whose calls a statement is attributed to: the call out of the innermost of them."""


def _label(frame: FrameType | None) -> str:
    """``caller → callee``: the call out of the innermost boundary frame that led here."""
    inner: FrameType | None = None
    while frame is not None:
        if frame.f_code.co_filename.endswith(BOUNDARIES):
            callee = inner.f_code.co_qualname if inner is not None else "?"
            return f"{frame.f_code.co_qualname} → {callee}"
        inner, frame = frame, frame.f_back
    return "(other)"


class Counters:
    """Statements (by call and thread), transactions and connections of every engine."""

    def __init__(self) -> None:
        self.statements: Counter[str] = Counter()
        self.transactions: Counter[str] = Counter()
        self.connections = 0
        self.on = False
        self._lock = threading.Lock()

    def _count(self, counter: Counter[str]) -> None:
        if not self.on:
            return
        thread = re.sub(r"-\d+", "", threading.current_thread().name)
        where = _label(sys._getframe(2))
        key = where if thread == "MainThread" else f"[{thread}] {where}"
        with self._lock:
            counter[key] += 1

    def _statement(self, *_args: Any) -> None:
        self._count(self.statements)

    def _begin(self, *_args: Any) -> None:
        self._count(self.transactions)

    def _connect(self, *_args: Any) -> None:
        if self.on:
            with self._lock:
                self.connections += 1

    @contextmanager
    def listening(self) -> Iterator[Counters]:
        from sqlalchemy import Engine, event
        from sqlalchemy.pool import Pool

        hooks = [
            (Engine, "before_cursor_execute", self._statement),
            (Engine, "begin", self._begin),
            (Pool, "connect", self._connect),
        ]
        for target, name, hook in hooks:
            event.listen(target, name, hook)
        try:
            yield self
        finally:
            for target, name, hook in hooks:
                event.remove(target, name, hook)


def _prefill(optuna_name: str, space: dict[str, Any], n: int) -> None:
    """``n`` finished trials of 10 reports each, as earlier workers would have left them."""
    import random

    import optuna
    from optuna.distributions import BaseDistribution, FloatDistribution

    from regtune.service.store.scheduling.retries import get_storage

    study = optuna.load_study(study_name=optuna_name, storage=get_storage())
    dists: dict[str, BaseDistribution] = {
        k: FloatDistribution(v["low"], v["high"], log=v.get("log", False)) for k, v in space.items()
    }
    rng = random.Random(0)
    done = []
    for _ in range(n):
        value = rng.random()
        done.append(
            optuna.trial.create_trial(
                params={k: rng.uniform(v["low"], v["high"]) for k, v in space.items()},
                distributions=dists,
                value=value,
                intermediate_values={e: value * (2 - e / EPOCHS) for e in range(1, EPOCHS + 1)},
            )
        )
    study.add_trials(done)


def measure(
    url: str, *, warmup: int, trials: int, prefill: int = 0, sleep_seconds: float = 0.0
) -> dict[str, Any]:
    """Run ``warmup`` then ``trials`` trials in a worker of this process; count the latter.

    ``prefill``: the study has that many finished trials before (the sampler is then random,
    so that what grows with the study is the service's cost, not TPE's); ``sleep_seconds``:
    the trial's length (its reports are then written at most once a second)."""
    os.environ["REGTUNE_OBJECTIVE_FACTORY"] = "bench.sleep_objective:make_objective"
    os.environ["REGTUNE_SLEEP_TRIAL_SECONDS"] = str(sleep_seconds)
    harness.use_database(url)
    import optuna

    from bench.overhead import definition
    from regtune.service.spec.definition import StudySpec
    from regtune.service.store.migrate import upgrade
    from regtune.service.store.repos.study_creation import create_study
    from regtune.worker.loop import Worker

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    upgrade(url)
    study = definition(prefill + 10 * (warmup + trials), name="trial-cost")
    if prefill:
        study["sampler"] = {"type": "random", "seed": 0}
    row = create_study(StudySpec.model_validate(study))
    if prefill:
        _prefill(row.optuna_name, study["search_space"], prefill)
    worker = Worker()
    counters = Counters()
    with counters.listening():
        worker.run(max_trials=warmup)
        worker.stopping.clear()  # run() sets it when it returns
        counters.on = True
        cpu, wall = time.process_time(), time.perf_counter()
        worker.run(max_trials=trials)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        counters.on = False
    by_call = {
        call: [counters.statements[call] / trials, counters.transactions[call] / trials]
        for call, _ in (counters.statements | counters.transactions).most_common()
    }
    return {
        "study_size": prefill,
        "trials": trials,
        "statements_per_trial": sum(counters.statements.values()) / trials,
        "transactions_per_trial": sum(counters.transactions.values()) / trials,
        "connections_opened": counters.connections,
        "cpu_ms_per_trial": 1000 * cpu / trials,
        "wall_ms_per_trial": 1000 * wall / trials,
        "by_call": by_call,
    }


def _child(url: str, *, warmup: int, trials: int, prefill: int = 0) -> dict[str, Any]:
    """``measure`` in a child process: each database gets a process (and engines) of its own."""
    import json
    import subprocess

    code = (
        "import json, sys; from bench.trial_cost import measure; "
        "print(json.dumps(measure(sys.argv[1], warmup=int(sys.argv[2]), trials=int(sys.argv[3]), "
        "prefill=int(sys.argv[4]))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, url, str(warmup), str(trials), str(prefill)],
        cwd=harness.ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


SIZES = (100, 10_000)
"""Study sizes of the flatness rows: the per-trial cost at trial 10,000 against trial 100."""
QUICK_SIZES = (10, 50)


def main(argv: list[str] | None = None) -> None:
    args = harness.parse_args(
        __doc__ or "",
        argv,
        extra={
            "--sqlite": {"action": "store_true", "help": "SQLite only (no PostgreSQL server)"},
            "--trials": {"type": int, "default": None, "help": "measured trials (default 50)"},
        },
    )
    trials = args.trials or (5 if args.quick else 50)
    warmup = 2 if args.quick else 5
    sizes = QUICK_SIZES if args.quick else SIZES
    results: dict[str, dict[str, Any]] = {}
    with harness.scratch("trial-cost") as tmp, harness.postgres(args.postgres) as server:
        kinds = ["sqlite"] if args.sqlite else ["sqlite", "postgresql"]
        for kind in kinds:
            for size in (0, *sizes):
                url = harness.fresh_database(kind, tmp, server, f"cost{size}")
                run = measure if args.quick else _child
                results[f"{kind} {size}"] = run(url, warmup=warmup, trials=trials, prefill=size)
    rows = [
        [
            label.split()[0],
            r["study_size"] or "(TPE sampler)",
            round(r["statements_per_trial"], 1),
            round(r["transactions_per_trial"], 1),
            round(r["cpu_ms_per_trial"], 1),
            round(r["wall_ms_per_trial"], 1),
            r["connections_opened"],
        ]
        for label, r in results.items()
    ]
    headers = [
        "backend",
        "finished trials before (random sampler)",
        "statements/trial",
        "transactions/trial",
        "CPU ms/trial",
        "wall ms/trial",
        "connections opened",
    ]
    markdown = harness.table(headers, rows)
    for label, r in results.items():
        if r["study_size"]:
            continue
        calls = [[call, round(n, 2), round(t, 2)] for call, (n, t) in r["by_call"].items()]
        markdown += f"\n\n{label.split()[0]}: per trial, by call\n\n"
        markdown += harness.table(["call", "statements", "transactions"], calls)
    harness.publish(args.out, "trial_cost", {"quick": args.quick, **results}, markdown)


if __name__ == "__main__":
    main()
