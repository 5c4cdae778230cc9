"""λ-path trials under kills: real workers on the sleep objective (the path protocol runs for
real, the solver sleeps), one SIGKILLed and one SIGTERMed mid-path; the study still ends with
exactly ``n_trials`` finished trials and the killed paths are re-run with their knobs."""

from __future__ import annotations

import signal
import uuid
from datetime import datetime
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from regtune.service.store.optuna_db.attrs import PATH_OF_ATTR
from tests.e2e.test_pool import (
    DONE,
    Trials,
    assert_at_rest,
    at_rest,
    completed,
    started,
    trials_of,
)
from tests.support import Proc, StackFactory, wait_for

SLEEP = {
    "REGTUNE_OBJECTIVE_FACTORY": "bench.sleep_objective:make_objective",
    "REGTUNE_SLEEP_TRIAL_SECONDS": "1.5",
}
"""A path takes 1.5 s, whatever its length: a worker is caught mid-path most of the time."""
EARLY = 0.6
"""A signal lands within this many seconds of the path's start, so that the path cannot finish
its last point before it sees the stop (it checks once a point: 0.2–0.75 s apart)."""
N_TRIALS = 60
__all__ = ["trials_of"]  # the fixture


def definition() -> dict[str, Any]:
    return {
        "name": f"paths-{uuid.uuid4().hex[:8]}",
        "dataset": {"synthetic": {"kind": "sparse_regression", "n_samples": 200}},
        "model": {"kind": "linear"},
        "search_space": {
            "lambda": {"low": 1e-4, "high": 1.0, "log": True},
            "l1_ratio": {"low": 0.0, "high": 1.0},
        },
        "training": {"lambda_path": {"points": 6, "patience": None}},
        "sampler": {"type": "random", "seed": 0},
        "pruner": {"type": "none"},
        "budget": {"n_trials": N_TRIALS, "max_parallel": 3, "max_retries": 2},
    }


def signal_mid_path(workers: list[Proc], trials: Trials, study_id: str, sig: int) -> Proc:
    """Send ``sig`` to a worker whose newest path trial is RUNNING and began less than ``EARLY``
    seconds ago, after a few paths ended."""
    wait_for(
        lambda: sum(t.state in DONE for t in trials.all()) >= 12, timeout=300, what="two paths"
    )

    def running_path() -> Proc | None:
        for proc in workers:
            numbers = started(proc, study_id)
            if not (proc.alive() and numbers):
                continue
            trial = trials.by_number(numbers[-1])
            began = trial.datetime_start or datetime.min  # Optuna's local time
            since = (datetime.now() - began).total_seconds()
            if trial.state == TrialState.RUNNING and since < EARLY:
                proc.signal(sig)
                return proc
        return None

    return wait_for(running_path, timeout=300, interval=0.03, what="a worker mid-path")


def knobs(trial: FrozenTrial) -> dict[str, Any]:
    """The knobs the sampler chose: not a path's own λ and relax (searched by default here)."""
    return {k: v for k, v in trial.params.items() if k not in ("lambda", "relax")}


def test_paths_keep_the_budget_exact_under_sigkill_and_sigterm(
    stack_factory: StackFactory, sqlite_url: str, trials_of: Any
) -> None:
    stack = stack_factory(sqlite_url, **SLEEP).start_api()
    study = stack.submit(definition())
    workers = stack.start_workers(3)
    trials = trials_of(sqlite_url, study)

    killed = signal_mid_path(workers, trials, study["id"], signal.SIGKILL)
    killed.popen.wait(timeout=30)
    stopped = signal_mid_path(workers, trials, study["id"], signal.SIGTERM)
    assert stopped.popen.wait(timeout=20) == 0

    final = completed(stack, study)
    assert final["progress"]["done"] == N_TRIALS and final["counts"]["RUNNING"] == 0
    everything = at_rest(trials)
    assert_at_rest(everything, N_TRIALS)
    failed = [t for t in everything if t.state == TrialState.FAIL]
    assert len(failed) >= 2, [t.state for t in everything]  # the two paths cut short
    for cut in failed:
        retries = [t for t in everything if cut.number in t.system_attrs.get("retry_history", [])]
        rerun = [t for t in retries if t.state in DONE and knobs(t) == knobs(cut)]
        assert rerun, f"trial {cut.number} was not re-run with its knobs"
        # ... as a path again: its further points name it
        assert any(t.system_attrs.get(PATH_OF_ATTR) == rerun[0].number for t in everything)
    paths = {t.system_attrs.get(PATH_OF_ATTR) for t in everything} - {None}
    assert len(paths) >= N_TRIALS // 6 - 2  # paths ran, not single trials
