"""SIGKILL of a worker mid fused pass: every member it was training is failed by the sweep (its
own heartbeat stopped) and retried with its parameters, and the study ends with exactly
``n_trials`` trials done, as it does when a worker dies in a single trial; SIGTERM hands every
member back, each saying why."""

from __future__ import annotations

import signal
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from tests.e2e.test_pool import (
    assert_at_rest,
    assert_no_work_lost,
    assert_retried,
    at_rest,
    completed,
    trials_of,
)
from tests.pg import PostgresServer
from tests.support import StackFactory, stop_in_an_outage, wait_for

__all__ = ["trials_of"]  # the fixture
MEMBERS = 4
STUDY: dict[str, Any] = {
    "name": "fused-kill",
    "dataset": {"builtin": "digits"},
    "model": {"kind": "mlp", "hidden_layers": [32]},
    "search_space": {
        "lambda": {"low": 1e-5, "high": 1e-2, "log": True},
        "learning_rate": {"low": 1e-3, "high": 1e-2, "log": True},
    },
    # long enough for the members' reports to reach the database (at most a second late)
    # before the pass ends, so the kill lands mid-pass (a pass: 5-10 s on 2 cores), and no longer:
    # the retried members run the whole pass again
    "training": {"max_epochs": 160, "batch_size": 32, "early_stopping": None},
    "sampler": {"type": "random", "seed": 0},
    "pruner": {"type": "none"},
    "budget": {"n_trials": MEMBERS, "max_parallel": MEMBERS, "max_retries": 2},
}


def mid_pass(trials: Any, *, members: int = MEMBERS) -> list[FrozenTrial]:
    """Wait until every member of a fused pass (``members``) runs and has reported: the pass
    is mid-way."""

    def members_training() -> list[FrozenTrial] | None:
        running = [
            t for t in trials.all() if t.state == TrialState.RUNNING and t.intermediate_values
        ]
        return running if len(running) == members else None

    found: list[FrozenTrial] = wait_for(
        members_training, timeout=300, interval=0.05, what="a fused pass mid-way"
    )
    return found


def test_a_killed_fused_worker_s_members_are_each_failed_and_retried(
    stack_factory: StackFactory, sqlite_url: str, trials_of: Any
) -> None:
    stack = stack_factory(sqlite_url, REGTUNE_FUSED_TRIALS=str(MEMBERS)).start_api()
    study = stack.submit(STUDY)
    (victim,) = stack.start_workers(1)
    trials = trials_of(sqlite_url, study)

    killed = mid_pass(trials)
    victim.signal(signal.SIGKILL)
    victim.popen.wait(timeout=30)
    assert "started (fused)" in victim.log()
    stack.start_workers(1)

    final = completed(stack, study)
    assert final["progress"]["done"] == STUDY["budget"]["n_trials"]
    all_trials = at_rest(trials)
    assert_at_rest(all_trials, STUDY["budget"]["n_trials"])
    for trial in killed:
        assert_retried(all_trials, trial.number)
    assert_no_work_lost(all_trials)


def test_a_stopped_fused_worker_hands_each_member_back_saying_why(
    stack_factory: StackFactory, sqlite_url: str, trials_of: Any
) -> None:
    """SIGTERM mid fused pass: the worker hands every member back (each a FAIL saying why, as a
    single trial handed back says) and exits; the next worker runs their parameters again."""
    stack = stack_factory(sqlite_url, REGTUNE_FUSED_TRIALS=str(MEMBERS)).start_api()
    study = stack.submit(STUDY)
    (stopped,) = stack.start_workers(1)
    trials = trials_of(sqlite_url, study)

    members = mid_pass(trials)
    stopped.signal(signal.SIGTERM)
    assert stopped.popen.wait(timeout=60) == 0
    stack.start_workers(1)

    completed(stack, study)
    all_trials = at_rest(trials)
    assert_at_rest(all_trials, STUDY["budget"]["n_trials"])
    for member in members:
        assert_retried(all_trials, member.number)
        failed = next(t for t in all_trials if t.number == member.number)
        assert failed.user_attrs["error"] == (
            "handed back: the worker is stopping; its parameters run again"
        )
    assert_no_work_lost(all_trials)


def test_a_fused_worker_stopped_in_an_outage_hands_its_members_back_once_it_ends(
    own_pg: PostgresServer, stack_factory: StackFactory, trials_of: Any
) -> None:
    """SIGTERM while PostgreSQL is away: the members' FAILs cannot be written, and the worker
    gave up on them at once (it was stopping), leaving them to the sweep, which failed them as
    a dead worker's (with ``max_retries: 0`` the study failed). It now waits up to a grace
    period for the database, its members still beating, and hands them back uncounted."""
    url = own_pg.create_database("fused_outage")
    env = {"REGTUNE_FUSED_TRIALS": "2", "REGTUNE_GRACE_PERIOD": "10"}
    stack = stack_factory(url, **env).start_api()
    spec = {
        **STUDY,
        "name": "fused-outage",
        "training": {**STUDY["training"], "max_epochs": 300},
        "budget": {"n_trials": 2, "max_parallel": 2, "max_retries": 0},
    }
    study = stack.submit(spec)
    (stopped,) = stack.start_workers(1)
    trials = trials_of(url, study)
    members = mid_pass(trials, members=2)  # both: one member's reports may land first
    trials.close()
    final = stop_in_an_outage(stack, stopped, own_pg, study["id"])
    assert final["status"] == "completed", final.get("error")
    all_trials = at_rest(trials)
    assert_at_rest(all_trials, 2)
    for member in members:
        assert_retried(all_trials, member.number)
        failed = next(t for t in all_trials if t.number == member.number)
        assert failed.user_attrs["error"].startswith("handed back: "), failed.user_attrs
