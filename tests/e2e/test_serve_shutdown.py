"""Ctrl-C of ``regtune serve`` never fails a study (issue 22, item 1): a worker whose trial does
not stop within ``REGTUNE_SHUTDOWN_GRACE_S`` is killed by ``serve``, which hands its trial back
itself, so a study with ``max_retries: 0`` is still running, its trial queued again."""

from __future__ import annotations

import signal

import httpx
from optuna.trial import TrialState
from sqlalchemy import func, select

from regtune.service.spec.enums import StudyStatus
from regtune.service.store.db import make_engine, transaction
from regtune.service.store.optuna_db.internals.handles import om
from regtune.service.store.tables import ClaimRow, StudyRow
from tests.e2e.test_serve import Served, definition
from tests.support import Processes, wait_for


def test_ctrl_c_hands_back_a_trial_that_will_not_stop(
    processes: Processes, sqlite_url: str
) -> None:
    serve = Served(
        processes,
        sqlite_url,
        "--workers",
        "1",
        REGTUNE_OBJECTIVE_FACTORY="tests.objectives:deaf_to_stops",
        REGTUNE_SHUTDOWN_GRACE_S="3",
    )
    body = definition(budget={"n_trials": 2, "max_parallel": 1, "max_retries": 0})
    study = httpx.post(f"{serve.url}/v1/studies", json=body, timeout=30).json()

    def running() -> bool:
        got = httpx.get(f"{serve.url}/v1/studies/{study['id']}", timeout=10).json()
        return bool(got["counts"]["RUNNING"] == 1)

    wait_for(running, timeout=120, what="the trial to run")
    serve.proc.signal(signal.SIGINT)
    wait_for(lambda: not serve.proc.alive(), timeout=60, what="serve to exit")
    assert serve.proc.popen.returncode == 0, serve.proc.log()[-3000:]
    assert "handed back" in serve.proc.log()

    engine = make_engine(sqlite_url)
    with transaction(engine) as session:
        row = session.get(StudyRow, study["id"])
        assert row is not None
        assert (row.status, row.n_errors, row.n_running) == (StudyStatus.RUNNING, 0, 0)
        assert session.scalar(select(func.count()).select_from(ClaimRow)) == 0
        states = session.scalars(
            select(om.TrialModel.state)
            .where(om.TrialModel.study_id == row.optuna_study_id)
            .order_by(om.TrialModel.number)
        ).all()
    engine.dispose()
    assert states == [TrialState.FAIL, TrialState.WAITING]
