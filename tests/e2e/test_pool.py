"""The worker pool with real processes: kills, shutdowns, database and API restarts, sharing.

Every test runs real worker processes (``python -m regtune.service.cli.app worker``) on the sleep
objective and a real API under uvicorn, on a real PostgreSQL unless it says SQLite, with the
fast failure-detection settings of ``tests.support.process_env`` (heartbeat 1 s, grace 4 s,
sweep 1 s).
"""

from __future__ import annotations

import itertools
import json
import re
import signal
import subprocess
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from tests.pg import PostgresServer
from tests.support import (
    Proc,
    Processes,
    Stack,
    StackFactory,
    free_port,
    process_env,
    regtune,
    wait_for,
)

DONE = (TrialState.COMPLETE, TrialState.PRUNED)
SLEEP = {
    "REGTUNE_OBJECTIVE_FACTORY": "bench.sleep_objective:make_objective",
    "REGTUNE_SLEEP_TRIAL_SECONDS": "0.5",
}
"""The protocol is under test here, not the model: trials sleep through their epochs."""


def definition(n_trials: int, *, max_parallel: int = 4, name: str | None = None) -> dict[str, Any]:
    """A linear elastic net on synthetic data; with ``SLEEP`` each trial takes half a second."""
    return {
        "name": name or f"pool-{uuid.uuid4().hex[:8]}",
        "dataset": {
            "synthetic": {"kind": "sparse_regression", "n_samples": 2000, "n_features": 10}
        },
        "model": {"kind": "linear"},
        "search_space": {
            "lambda": {"low": 1e-4, "high": 1.0, "log": True},
            "l1_ratio": {"low": 0.0, "high": 1.0},
            "learning_rate": {"low": 1e-3, "high": 1e-1, "log": True},
        },
        "training": {
            "solver": "minibatch",
            "max_epochs": 20,
            "batch_size": 32,
            "early_stopping": None,
        },
        "sampler": {"type": "random", "seed": 0},
        "pruner": {"type": "none"},
        "budget": {"n_trials": n_trials, "max_parallel": max_parallel, "max_retries": 2},
    }


class Trials:
    """Optuna's own view of a study's trials, read straight from the database."""

    def __init__(self, url: str, optuna_name: str) -> None:
        self.storage = optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
        self.study_id = self.storage.get_study_id_from_name(optuna_name)

    def all(self) -> list[FrozenTrial]:
        return self.storage.get_all_trials(self.study_id, deepcopy=False)

    def by_number(self, number: int) -> FrozenTrial:
        return next(t for t in self.all() if t.number == number)

    def close(self) -> None:
        self.storage.engine.dispose()


@pytest.fixture
def trials_of() -> Iterator[Any]:
    opened: list[Trials] = []

    def open_(url: str, study: dict[str, Any]) -> Trials:
        opened.append(Trials(url, study["optuna_study_name"]))
        return opened[-1]

    yield open_
    for t in opened:
        t.close()


def started(proc: Proc, study_id: str) -> list[int]:
    """Trial numbers the worker's log says it started, in order."""
    return [int(n) for n in re.findall(rf"study {study_id} trial (\d+) started", proc.log())]


def signal_mid_trial(workers: list[Proc], trials: Trials, study_id: str, sig: int) -> Proc:
    """Send ``sig`` to a worker whose newest trial is RUNNING and less than half done.

    "Half done" is measured against the median duration of the trials finished so far, so the
    choice holds on a loaded machine, where a half-second trial can take many seconds.
    """

    def typical_duration() -> timedelta | None:
        spans = sorted(
            t.datetime_complete - t.datetime_start
            for t in trials.all()
            if t.state in DONE and t.datetime_complete and t.datetime_start
        )
        return spans[len(spans) // 2] if len(spans) >= 2 else None

    typical = wait_for(typical_duration, timeout=300, what="two finished trials")

    def fresh_trial() -> Proc | None:
        for proc in workers:
            numbers = started(proc, study_id)
            if not numbers:
                continue
            trial = trials.by_number(numbers[-1])
            assert trial.datetime_start is not None
            if trial.state == TrialState.RUNNING and (
                datetime.now() - trial.datetime_start < typical / 2
            ):
                proc.signal(sig)
                return proc
        return None

    return wait_for(fresh_trial, timeout=300, interval=0.03, what="a worker mid-trial")


def completed(stack: Stack, study: dict[str, Any]) -> dict[str, Any]:
    """Wait for the study to end; it must have completed (not failed on database errors)."""
    final = stack.wait_status(study["id"], ("completed", "failed", "cancelled"), timeout=600)
    assert final["status"] == "completed", final.get("error")
    return final


def at_rest(trials: Any) -> list[FrozenTrial]:
    """The trials once nothing is RUNNING or WAITING: an orphan (a trial cut off by a database
    outage before its first heartbeat) is failed by the sweep within the grace period."""

    def settled() -> list[FrozenTrial] | None:
        current = trials.all()
        busy = {TrialState.RUNNING, TrialState.WAITING}
        return None if any(t.state in busy for t in current) else current

    return wait_for(settled, timeout=120, what="no RUNNING or WAITING trial")


def assert_at_rest(trials: list[FrozenTrial], n_trials: int) -> None:
    """Exactly n COMPLETE/PRUNED, nothing RUNNING or WAITING, numbers 0..N-1 without repeats."""
    states = [t.state for t in trials]
    assert sum(s in DONE for s in states) == n_trials
    assert TrialState.RUNNING not in states
    assert TrialState.WAITING not in states
    assert sorted(t.number for t in trials) == list(range(len(trials)))


def assert_retried(trials: list[FrozenTrial], number: int) -> None:
    """Trial ``number`` is FAIL and a finished retry carries its parameters."""
    failed = next(t for t in trials if t.number == number)
    assert failed.state == TrialState.FAIL
    retries = [t for t in trials if number in t.system_attrs.get("retry_history", [])]
    assert any(r.state in DONE and r.params == failed.params for r in retries), (
        f"no finished retry of trial {number}"
    )


def assert_no_work_lost(trials: list[FrozenTrial]) -> None:
    """Every FAIL (a kill, a hand-back, a heartbeat lapse on a loaded machine) was re-run."""
    for t in trials:
        if t.state == TrialState.FAIL:
            assert_retried(trials, t.number)


def test_sigkill_mid_trial_is_retried_with_its_parameters(
    stack_factory: StackFactory, pg_url: str, trials_of: Any
) -> None:
    """Must-show 1: 4 workers, 40 trials, one worker SIGKILLed mid-trial."""
    stack = stack_factory(pg_url, **SLEEP).start_api()
    study = stack.submit(definition(40))
    workers = stack.start_workers(4)
    trials = trials_of(pg_url, study)

    killed = signal_mid_trial(workers, trials, study["id"], signal.SIGKILL)
    killed.popen.wait(timeout=30)
    number = started(killed, study["id"])[-1]

    final = completed(stack, study)
    assert final["progress"]["done"] == 40 and final["counts"]["RUNNING"] == 0
    all_trials = trials.all()
    assert_at_rest(all_trials, 40)
    assert_retried(all_trials, number)
    assert_no_work_lost(all_trials)


def test_sigterm_hands_the_trial_back_and_exits(
    stack_factory: StackFactory, pg_url: str, trials_of: Any
) -> None:
    """Must-show 2: SIGTERM mid-trial; the worker exits within 10 s and its trial is re-run."""
    stack = stack_factory(pg_url, **SLEEP).start_api()
    study = stack.submit(definition(24))
    workers = stack.start_workers(3)
    trials = trials_of(pg_url, study)

    stopped = signal_mid_trial(workers, trials, study["id"], signal.SIGTERM)
    assert stopped.popen.wait(timeout=10) == 0
    number = started(stopped, study["id"])[-1]
    assert re.search(rf"trial {number} handed back", stopped.log())

    completed(stack, study)
    all_trials = trials.all()
    assert_at_rest(all_trials, 24)
    assert_retried(all_trials, number)
    assert_no_work_lost(all_trials)
    assert all(w.alive() for w in workers if w is not stopped)
    handed = next(t for t in all_trials if t.number == number)  # says why it FAILed
    assert handed.user_attrs["error"] == (
        "handed back: the worker is stopping; its parameters run again"
    )
    # its retry ran and completed: the handed-back trial's error is not the retry's (Optuna's
    # copy carried it, so a COMPLETE trial said it was handed back)
    retries = [t for t in all_trials if number in t.system_attrs.get("retry_history", [])]
    assert retries and all("error" not in r.user_attrs for r in retries if r.state in DONE)


def test_database_restart_workers_back_off_and_continue(
    own_pg: PostgresServer, stack_factory: StackFactory, trials_of: Any
) -> None:
    """Must-show 3: ``pg_ctl restart -m fast`` under 3 workers; /readyz 503 then 200."""
    url = own_pg.create_database("pool")
    stack = stack_factory(url, **SLEEP).start_api()
    study = stack.submit(definition(40))
    workers = stack.start_workers(3)
    trials = trials_of(url, study)
    wait_for(lambda: sum(t.state in DONE for t in trials.all()) >= 6, timeout=180, what="6 trials")

    readiness: list[int] = []
    watching = threading.Event()

    def watch_readyz() -> None:
        # one client, so a poll costs the API's answer and not a new client's setup: a fast
        # restart of a small database is over in ~150 ms, shorter than a fresh client takes here
        with httpx.Client(base_url=stack.url, timeout=3) as client:
            while not watching.is_set():
                try:
                    readiness.append(client.get("/readyz").status_code)
                except httpx.HTTPError:
                    readiness.append(-1)
                watching.wait(0.01)

    watcher = threading.Thread(target=watch_readyz)
    watcher.start()
    try:
        logs_before = [len(w.log()) for w in workers]
        wait_for(lambda: 200 in readiness, timeout=30, what="the watcher's first 200")
        own_pg.restart("fast")
        wait_for(lambda: 503 in readiness and readiness[-1] == 200, timeout=60, what="503, 200")
    finally:
        watching.set()
        watcher.join()
    assert readiness[readiness.index(503) :].count(200) >= 1

    completed(stack, study)
    assert_at_rest(at_rest(trials), 40)
    for worker, offset in zip(workers, logs_before, strict=True):
        assert worker.alive(), "a worker died with the database"
        assert re.search(r"trial \d+ started", worker.log()[offset:]), "a worker stopped working"


def test_api_restart_does_not_disturb_the_workers(
    stack_factory: StackFactory, pg_url: str, trials_of: Any
) -> None:
    """Must-show 4: the API process is stopped mid-study and started again."""
    stack = stack_factory(pg_url, **SLEEP).start_api()
    study = stack.submit(definition(30))
    workers = stack.start_workers(3)
    trials = trials_of(pg_url, study)
    wait_for(lambda: sum(t.state in DONE for t in trials.all()) >= 3, timeout=180, what="trials")

    assert stack.api is not None
    stack.api.stop()
    assert not stack.api.alive()
    down_at = sum(t.state in DONE for t in trials.all())
    wait_for(
        lambda: sum(t.state in DONE for t in trials.all()) >= down_at + 4,
        timeout=120,
        what="progress while the API is down",
    )
    stack.start_api()

    final = completed(stack, study)
    assert final["progress"]["done"] == 30
    assert_at_rest(trials.all(), 30)
    assert all(w.alive() for w in workers)


def test_two_studies_share_the_pool_and_max_parallel_holds(
    stack_factory: StackFactory, pg_url: str, trials_of: Any
) -> None:
    """Must-show 5: two studies of 20 trials on 4 workers; one has max_parallel = 1. Its trials
    run one after another: a quarter of a second each (no signal lands mid-trial here)."""
    stack = stack_factory(pg_url, **{**SLEEP, "REGTUNE_SLEEP_TRIAL_SECONDS": "0.25"}).start_api()
    narrow = stack.submit(definition(20, max_parallel=1))
    wide = stack.submit(definition(20, max_parallel=4))
    workers = stack.start_workers(4)

    # GET /v1/workers and `regtune workers` list them, with what each is running
    def listed() -> list[dict[str, Any]] | None:
        live = httpx.get(f"{stack.url}/v1/workers", timeout=30).json()
        ours = {w.pid for w in workers}
        running = [w for w in live if w["trial_number"] is not None]
        return live if {w["pid"] for w in live} == ours and running else None

    live = wait_for(listed, timeout=300, interval=0.3, what="4 workers listed, one busy")
    assert {w["study_id"] for w in live if w["study_id"]} <= {narrow["id"], wide["id"]}
    assert all(w["host"] and w["last_heartbeat"] for w in live)
    shown = subprocess.run(
        regtune("workers", "--url", stack.url, "--json"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert {w["pid"] for w in json.loads(shown.stdout)} == {w.pid for w in workers}

    for study in (narrow, wide):
        completed(stack, study)

    runs: dict[str, list[FrozenTrial]] = {}
    for study in (narrow, wide):
        runs[study["id"]] = trials_of(pg_url, study).all()
        assert_at_rest(runs[study["id"]], 20)

    intervals = sorted(
        (t.datetime_start, t.datetime_complete) for t in runs[narrow["id"]] if t.state in DONE
    )
    for (_, end), (start, _) in itertools.pairwise(intervals):
        assert end is not None and start is not None
        assert start >= end, "two trials of the max_parallel = 1 study overlapped"

    starts = sorted((t.datetime_start, sid) for sid, ts in runs.items() for t in ts)
    switches = sum(a[1] != b[1] for a, b in itertools.pairwise(starts))
    assert switches >= 4, f"the studies ran one after the other ({switches} switches)"


def test_sqlite_embedded_with_dashboard_reading(
    sqlite_url: str, processes: Processes, trials_of: Any
) -> None:
    """Must-show 6: `regtune serve` on SQLite, 3 workers, the dashboard reading the same file."""
    port, dash_port = free_port(), free_port()
    serve = processes.start(
        regtune(
            "serve",
            *("--port", str(port), "--workers", "3", "--api-workers", "1"),
            *("--dashboard", "--dashboard-port", str(dash_port)),
        ),
        process_env(sqlite_url, **SLEEP),
        "serve.log",
    )
    api, dash = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{dash_port}"
    try:
        for url in (f"{api}/readyz", f"{dash}/api/studies"):

            def up(u: str = url) -> bool:
                return httpx.get(u, timeout=5).status_code == 200

            wait_for(up, timeout=120)
        wait_for(
            lambda: len(httpx.get(f"{api}/v1/workers", timeout=30).json()) == 3,
            timeout=120,
            what="3 workers",
        )
        created = httpx.post(f"{api}/v1/studies", json=definition(30, max_parallel=3), timeout=30)
        assert created.status_code == 201, created.text
        study = created.json()
        listed = httpx.get(f"{dash}/api/studies", timeout=30).json()["study_summaries"]
        (dash_id,) = [
            s["study_id"] for s in listed if s["study_name"] == study["optuna_study_name"]
        ]
        answers: list[int] = []

        def dashboard_reads_until_done() -> bool:
            # what the dashboard's study page fetches: the study with all its trials
            answers.append(httpx.get(f"{dash}/api/studies/{dash_id}", timeout=30).status_code)
            status = httpx.get(f"{api}/v1/studies/{study['id']}", timeout=30).json()["status"]
            return status == "completed"

        wait_for(dashboard_reads_until_done, timeout=600, interval=0.3, what="30 trials")
        assert len(answers) >= 3 and set(answers) == {200}

        def dashboard_shows_all() -> bool:  # the dashboard refreshes its view on its own clock
            shown = httpx.get(f"{dash}/api/studies/{dash_id}", timeout=30).json()["trials"]
            return sum(t["state"] in ("Complete", "Pruned") for t in shown) == 30

        wait_for(dashboard_shows_all, timeout=120, interval=1, what="30 trials in the dashboard")
    finally:
        serve.stop(timeout=60)

    assert_at_rest(trials_of(sqlite_url, study).all(), 30)
    logs = serve.log()
    assert "database is locked" not in logs
    assert len(re.findall(r"trial \d+ started", logs)) >= 30
