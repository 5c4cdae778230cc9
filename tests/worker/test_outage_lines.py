"""What a worker logs through a PostgreSQL outage: each wait is one warning at its first
failure (another only when the error changes, or once a minute) and one line when the database
answers again, and a trial cut off by the outage names the error that stopped it once."""

from __future__ import annotations

import contextvars
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from optuna.trial import TrialState

from regtune.worker.loop import Worker
from tests.e2e.test_pool import Trials, definition
from tests.inprocess import Apps
from tests.pg import PostgresServer
from tests.support import assert_outage_said_once, wait_for

LOOP = "regtune.worker.loop"
BACKOFF = "regtune.service.store.backoff"
HAND_BACK = "regtune.worker.hand_back"
TRIAL_RUN = "regtune.worker.trial_run"


@contextmanager
def running(worker: Worker) -> Iterator[None]:
    thread = threading.Thread(target=contextvars.copy_context().run, args=(worker.run,))
    thread.start()
    try:
        yield
    finally:
        worker.stopping.set()
        thread.join(timeout=60)
    assert not thread.is_alive()


def lines(caplog: pytest.LogCaptureFixture, *loggers: str) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name in loggers]


def outage_until(
    own_pg: PostgresServer,
    worker: Worker,
    caplog: pytest.LogCaptureFixture,
    *,
    line: str,
    what: str,
) -> None:
    """PostgreSQL stopped until the worker's heartbeat failed three times, a second apart (its
    loop tried at least three times meanwhile), started again, then waited on until the worker
    logs a line holding ``line``."""
    own_pg.stop("fast")
    wait_for(lambda: worker.heartbeat.failed >= 3, timeout=60, what="beats failed")
    own_pg.start()
    wait_for(
        lambda: any(line in m for _, m in lines(caplog, LOOP, HAND_BACK)), timeout=120, what=what
    )


def test_an_idle_worker_says_an_outage_once_and_once_that_it_ended(
    apps: Apps, own_pg: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    """It logged "database unavailable (…); retry in 4.1s" at every attempt."""
    apps(database_url=own_pg.create_database("idle"), heartbeat_interval=1, grace_period=20)
    caplog.set_level(logging.INFO, logger=LOOP)
    worker = Worker()
    with running(worker):
        wait_for(lambda: lines(caplog, LOOP), timeout=60, what="the worker registered")
        outage_until(
            own_pg, worker, caplog, line="look for work: done", what="a claim after the restart"
        )
    said = [(level, m) for level, m in lines(caplog, LOOP) if "look for work" in m]
    assert_outage_said_once(said, "look for work", tries=3)


def test_a_trial_cut_off_by_an_outage_names_the_error_that_stopped_it_once(
    apps: Apps, own_pg: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    """It was named in a warning as the trial stopped, again in the warning of the first retry to
    fail the trial and, in a wait begun while handling it, in every later warning whatever the
    database answered since."""
    url = own_pg.create_database("cut")
    api = apps(
        database_url=url,
        heartbeat_interval=1,
        grace_period=20,
        objective_factory="bench.sleep_objective:make_objective",
        sleep_trial_seconds=30,
    )
    created = api.post("/v1/studies", json=definition(1, max_parallel=1)).json()
    caplog.set_level(logging.INFO)
    trials = Trials(url, created["optuna_study_name"])
    worker = Worker()
    try:
        with running(worker):
            wait_for(
                lambda: any(t.state == TrialState.RUNNING for t in trials.all()),
                timeout=60,
                what="the trial running",
            )
            trials.close()
            outage_until(own_pg, worker, caplog, line="handed back (", what="the hand-back")
        (trial,) = [t for t in trials.all() if t.number == 0]
    finally:
        trials.close()
    said = lines(caplog, LOOP, TRIAL_RUN, HAND_BACK, BACKOFF)
    warnings = [m for level, m in said if level >= logging.WARNING and "heartbeat" not in m]
    (stopped,) = [m for m in warnings if "mid-trial" in m]
    assert re.fullmatch(
        rf"study {created['id']} trial 0: database error mid-trial \(OperationalError: .+\); "
        "handing it back",
        stopped,
    ), stopped
    named = stopped.split("mid-trial (")[1].removesuffix("); handing it back")
    assert [m for m in warnings if named in m] == [stopped], warnings
    (back,) = [m for _, m in said if "trial 0 handed back (" in m]
    assert back == (
        f"study {created['id']} trial 0 handed back (the database failed mid-trial: it refuses "
        "connections or cannot be reached (down or restarting))"
    ), back
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs["error"].startswith("handed back: the database failed mid-trial")
