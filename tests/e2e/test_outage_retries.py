"""A PostgreSQL outage under running workers spends none of a study's retries: the trials it cut
off are handed back (re-run with their parameters, uncounted), as on SIGTERM.

The outage outlasts the grace period (4 s here), and the API sweeps every 0.1 s, so the first
sweep after the restart came before the workers' next heartbeat (1 s): it took their silence
for death, failed their trials as a dead worker's (one retry each), and a study with
``max_retries: 0`` failed ("trial 0 killed its worker 1 times").

Every trial the outage cut off says why in words a tenant may read: a FAIL said nothing when
the database refused its note, or named the database's address when it did not.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from optuna.trial import TrialState
from sqlalchemy import Engine, create_engine, text

from tests.e2e.test_pool import SLEEP, assert_at_rest, at_rest, definition, trials_of
from tests.pg import PostgresServer
from tests.support import StackFactory, stop_in_an_outage, wait_for

__all__ = ["trials_of"]  # the fixture


def trial_running(trials: Any) -> Any:
    """``trials`` (the ``trials_of`` fixture's reader), once one of them runs; closed, to be
    read again after the outage."""
    wait_for(
        lambda: any(t.state == TrialState.RUNNING for t in trials.all()),
        timeout=180,
        what="the trial running",
    )
    trials.close()
    return trials


def test_an_outage_longer_than_the_grace_period_spends_no_retry(
    own_pg: PostgresServer, stack_factory: StackFactory, trials_of: Any
) -> None:
    url = own_pg.create_database("outage")
    env = {**SLEEP, "REGTUNE_SLEEP_TRIAL_SECONDS": "3", "REGTUNE_SWEEP_INTERVAL": "0.1"}
    stack = stack_factory(url, **env).start_api()
    spec = definition(4, max_parallel=2)
    spec["budget"]["max_retries"] = 0
    study = stack.submit(spec)
    stack.start_workers(2)
    trials = trials_of(url, study)
    wait_for(
        lambda: sum(t.state == TrialState.RUNNING for t in trials.all()) == 2,
        timeout=180,
        what="two trials running",
    )
    trials.close()
    own_pg.stop("fast")
    threading.Event().wait(6)  # longer than the grace period: no condition to poll for
    own_pg.start()

    final = stack.wait_status(study["id"], ("completed", "failed", "cancelled"), timeout=600)
    assert final["status"] == "completed", final.get("error")
    all_trials = at_rest(trials)
    assert_at_rest(all_trials, 4)
    cut_off = [t for t in all_trials if t.state == TrialState.FAIL]
    assert cut_off, "the outage cut off no trial"
    for trial in cut_off:
        error = trial.user_attrs.get("error") or ""
        assert error.startswith("handed back: the database failed"), trial
        assert str(own_pg.port) not in error and "127.0.0.1" not in error, error


def test_an_api_started_after_an_outage_judges_no_heartbeat_it_did_not_see_lapse(
    own_pg: PostgresServer, stack_factory: StackFactory, trials_of: Any
) -> None:
    """An API started once the database is back (as compose restarts everything after a failure)
    found every heartbeat as old as the outage, and its first sweep failed the trials of live
    workers as dead workers' (with ``max_retries: 0``, "trial 0 killed its worker 1 times"). It
    now judges a silence only once it has itself reached the database for the grace period.

    The worker is stopped (SIGSTOP) through the outage and continued once the new API is ready:
    a worker whose way back to the database takes longer than the API's. Before, the new API's
    first sweep failed its trial at once."""
    url = own_pg.create_database("late_api")
    grace = 10
    env = {
        **SLEEP,
        "REGTUNE_SLEEP_TRIAL_SECONDS": "2",
        "REGTUNE_SWEEP_INTERVAL": "0.1",
        "REGTUNE_GRACE_PERIOD": str(grace),
    }
    stack = stack_factory(url, **env).start_api()
    spec = definition(1, max_parallel=1)
    spec["budget"]["max_retries"] = 0
    study = stack.submit(spec)
    assert stack.api is not None
    stack.api.stop()  # down with the database: a new API process comes up after it
    (worker,) = stack.start_workers(1)
    trials = trial_running(trials_of(url, study))
    worker.signal(signal.SIGSTOP)
    try:
        own_pg.stop("fast")
        own_pg.start()
        engine = create_engine(url)
        try:
            wait_for(  # by the rule the sweep applies: the trial's heartbeat lapsed
                lambda: _heartbeats_older_than(engine, grace),
                timeout=120,
                what="the trial's heartbeat older than the grace period",
            )
        finally:
            engine.dispose()
        api = stack.start_api().api
        assert api is not None
        wait_for(  # its first sweep: it failed the trial, or says why it judges nothing yet
            lambda: (
                "no worker judged dead" in api.log()
                or any(t.state == TrialState.FAIL for t in trials.all())
            ),
            timeout=120,
            what="the new API's first sweep",
        )
    finally:
        worker.signal(signal.SIGCONT)

    final = stack.wait_status(study["id"], ("completed", "failed", "cancelled"), timeout=300)
    assert final["status"] == "completed", final.get("error")
    assert_at_rest(at_rest(trials), 1)


def _heartbeats_older_than(engine: Engine, seconds: float) -> bool:
    with engine.connect() as connection:
        return bool(
            connection.scalar(
                text(
                    "SELECT bool_and(heartbeat < LOCALTIMESTAMP - make_interval(secs => :s)) "
                    "FROM trial_heartbeats"
                ),
                {"s": seconds},
            )
        )


def test_a_worker_stopped_in_an_outage_hands_its_trial_back_once_the_database_answers(
    own_pg: PostgresServer, stack_factory: StackFactory, trials_of: Any
) -> None:
    """SIGTERM while PostgreSQL is away: the trial's FAIL cannot be written, and the stopping
    worker gave up on it at once, leaving it to the sweep, which counted a death (with
    ``max_retries: 0`` the study failed). It now waits up to a grace period for the database,
    and hands the trial back uncounted.

    The trial sleeps long enough to be running through the outage; its retry, on the worker
    that runs the study to its end, half a second as any other here."""
    url = own_pg.create_database("stopped")
    env = {**SLEEP, "REGTUNE_SLEEP_TRIAL_SECONDS": "30", "REGTUNE_GRACE_PERIOD": "10"}
    stack = stack_factory(url, **env).start_api()
    spec = definition(1, max_parallel=1)
    spec["budget"]["max_retries"] = 0
    study = stack.submit(spec)
    (stopped,) = stack.start_workers(1)
    trials = trial_running(trials_of(url, study))
    final = stop_in_an_outage(stack, stopped, own_pg, study["id"], **SLEEP)
    assert final["status"] == "completed", final.get("error")
    all_trials = at_rest(trials)
    assert_at_rest(all_trials, 1)
    (cut_off,) = [t for t in all_trials if t.state == TrialState.FAIL]
    assert cut_off.user_attrs["error"].startswith("handed back: "), cut_off.user_attrs
