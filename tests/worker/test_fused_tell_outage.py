"""A fused member whose tell meets a database outage (PostgreSQL restarted as the member ends) is
handed back uncounted, as the members still training are, its slot given back.

Its tell marked it ended before it wrote, so the pass's error ended only the others: the trial
stayed RUNNING with its claim held (the study's ``n_running`` one too many for as long as the
worker lived), and once its heartbeat lapsed the sweep failed it as a dead worker's, which under
``max_retries: 0`` failed the study. Here the first member told meets the outage: its write of
COMPLETE fails with the error PostgreSQL gives as it shuts down, and with it, in the second case,
the worker's read of whether a sweep failed that trial meanwhile.
"""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from optuna.trial import TrialState
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from regtune.service.store.db import transaction
from regtune.service.store.optuna_db.internals import running_writes
from regtune.service.store.optuna_db.internals.handles import trial_id_of
from regtune.service.store.scheduling.retries import get_storage
from regtune.service.store.tables import ClaimRow, StudyRow
from regtune.worker import outcomes
from tests.inprocess import Apps, wait_for_the_end, worker_thread
from tests.worker.test_fused_trials import mlp_study


def shutting_down(statement: str) -> OperationalError:
    return OperationalError(statement, {}, Exception("the database system is shutting down"))


@pytest.mark.parametrize("read", ["answers", "fails too"])
def test_a_fused_member_whose_tell_meets_an_outage_is_handed_back_uncounted(
    apps: Apps, monkeypatch: pytest.MonkeyPatch, read: str
) -> None:
    told: list[int] = []
    """The trial whose tell met the outage."""
    write = running_writes.write_running

    def outage_at_the_first_tell(
        connection: Connection, tables: Any, trial_id: int, *args: Any, **final: Any
    ) -> bool:
        if final.get("state") == TrialState.COMPLETE and not told:
            told.append(trial_id)
            raise shutting_down("UPDATE trials")
        return write(connection, tables, trial_id, *args, **final)

    stored_state = outcomes.stored_state

    def unread_in_the_outage(engine: Any, trial_id: int) -> TrialState | None:
        if read == "fails too" and told == [trial_id]:
            told.append(trial_id)  # once: the database is back for the hand-back
            raise shutting_down("SELECT trials.state")
        return stored_state(engine, trial_id)

    monkeypatch.setattr(running_writes, "write_running", outage_at_the_first_tell)
    monkeypatch.setattr(outcomes, "stored_state", unread_in_the_outage)
    api = apps()
    body = mlp_study("told-in-an-outage", 4, fused_trials=4) | {"pruner": {"type": "none"}}
    body["search_space"]["batch_size"] = 64  # one structure: the four train together
    body["budget"] |= {"max_retries": 0}
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    study_id = created.json()["id"]

    with worker_thread():
        shown = wait_for_the_end(api, study_id, timeout=300)
        with transaction() as session:  # the worker still lives: no slot of its is left held
            row = session.get(StudyRow, study_id)
            assert row is not None and (row.n_done, row.n_running, row.n_errors) == (4, 0, 0)
            assert session.query(ClaimRow).count() == 0
    assert shown["status"] == "completed" and shown["error"] is None, shown
    assert len(told) == (2 if read == "fails too" else 1)

    study = optuna.load_study(study_name=shown["optuna_study_name"], storage=get_storage())
    trials = study.get_trials(deepcopy=False)
    (cut_off,) = [t for t in trials if trial_id_of(t) == told[0]]
    assert cut_off.state == TrialState.FAIL, cut_off
    error = cut_off.user_attrs["error"]
    assert error.startswith("handed back: the database failed mid-trial: "), error
    assert error.endswith("; its parameters run again"), error
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(done) == 4, trials
    assert cut_off.params in [t.params for t in done if t.number > cut_off.number]  # its retry
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert all("handed back" in t.user_attrs["error"] for t in failed), failed
