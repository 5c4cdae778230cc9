"""A trial a sweep failed while its worker was silent (paused past its grace period) is dropped
by that worker when it resumes, nothing counted, however Optuna reports the FAIL it finds.

A worker stopped with SIGSTOP past ``REGTUNE_GRACE_PERIOD`` is judged dead: the sweep fails its
trial and queues the retry. Resumed, the worker met that FAIL as ``ValueError("Cannot tell a FAIL
trial.")`` (a report written after the sweep, or the objective's own error, leaves Optuna's tell
a trial it reads as FAIL) or as Optuna's own assertion (its tell wrote nothing), not as the
``UpdateFinishedTrialError`` it looked for: the trial counted as an error of the study, and a
second pause failed it. Here the objective itself plays the sweep: it ages its trial's heartbeat
and its worker's, and sweeps, in the worker's thread, between two of the worker's steps; a
fused pass's first report does so for one of its members.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import optuna
import pytest
from fastapi.testclient import TestClient
from optuna.trial import TrialState
from sqlalchemy import update

from regtune.service.spec.definition import StudySpec
from regtune.service.store.clock import utcnow
from regtune.service.store.db import transaction
from regtune.service.store.optuna_db import running
from regtune.service.store.optuna_db.internals.handles import om, trial_id_of
from regtune.service.store.scheduling.retries import get_storage
from regtune.service.store.scheduling.sweep import sweep
from regtune.service.store.tables import ClaimRow, StudyRow, WorkerRow
from regtune.worker import fused
from regtune.worker.search import StopCheck, suggest
from tests.inprocess import Apps, run_to_the_end
from tests.service.test_client_optuna import STUDY
from tests.worker.test_fused_trials import mlp_study

SILENT: dict[str, Any] = {"heartbeat_interval": 20, "grace_period": 60}
"""No heartbeat of the worker's own while a test ages them: it beats every 20 s."""


def _swept(trial: optuna.Trial) -> None:
    """What a sweep does to a worker silent past its grace period: its trial FAILed, the retry
    queued, its slot given back (its heartbeat and its trial's aged an hour)."""
    past = utcnow() - timedelta(hours=1)
    beats = om.TrialHeartbeatModel
    with transaction() as session:
        session.execute(
            update(beats).where(beats.trial_id == trial_id_of(trial)).values(heartbeat=past)
        )
        session.execute(update(WorkerRow).values(last_seen=past))
    sweep()
    stored = get_storage().get_trial(trial_id_of(trial))
    assert stored.state == TrialState.FAIL, stored


def swept_in_trial_0(spec: StudySpec, *, stop_check: StopCheck) -> Callable[[optuna.Trial], float]:
    """Trial 0 is failed by a sweep while it runs, then goes on as the study's name says:
    ``returns`` its value, ``reports`` an epoch first, or ``raises`` an error of its own; every
    other trial scores its λ at once."""

    def objective(trial: optuna.Trial) -> float:
        values = suggest(trial, spec)
        if trial.number == 0:
            _swept(trial)
            if spec.name == "reports":
                trial.report(1.0, 1)
            elif spec.name == "raises":
                raise FloatingPointError("the trainer diverged")
        stop_check()
        return values["lambda"]

    return objective


def completed_without_errors(
    api: TestClient, body: dict[str, Any], caplog: pytest.LogCaptureFixture, *, n_done: int
) -> optuna.Study:
    """``body`` created and run to its end by a worker in this process, its lines in
    ``caplog``: completed with ``n_done`` trials, no error counted, no slot held."""
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    study_id = created.json()["id"]
    with caplog.at_level(logging.INFO):
        shown = run_to_the_end(api, study_id, timeout=300)
    assert shown["status"] == "completed", shown
    with transaction() as session:
        row = session.get(StudyRow, study_id)
        assert row is not None and (row.n_errors, row.n_done, row.n_running) == (0, n_done, 0)
        assert session.query(ClaimRow).count() == 0
    return optuna.load_study(study_name=shown["optuna_study_name"], storage=get_storage())


@pytest.mark.parametrize("then", ["returns", "reports", "raises"])
def test_a_trial_failed_by_a_sweep_while_its_worker_was_silent_counts_no_error(
    apps: Apps,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    then: str,
) -> None:
    monkeypatch.setattr(running, "FLUSH_SECONDS", 0.0)  # a report is written as it is made
    api = apps(objective_factory=f"{__name__}:swept_in_trial_0", **SILENT)
    body = STUDY | {"name": then, "budget": {"n_trials": 3, "max_parallel": 1, "max_retries": 1}}
    study = completed_without_errors(api, body, caplog, n_done=3)
    trials = study.get_trials(deepcopy=False)
    swept, *others = trials
    assert swept.state == TrialState.FAIL
    assert "stopped sending heartbeats" in swept.user_attrs["error"], swept.user_attrs
    assert [t.state for t in others] == [TrialState.COMPLETE] * 3, trials
    assert others[0].params == swept.params  # its retry
    assert any("failed by a sweep" in r.getMessage() for r in caplog.records)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


def test_a_fused_member_failed_by_a_sweep_hands_the_others_back_uncounted(
    apps: Apps, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The sweep fails one member of a pass of four; the write of its first report is refused,
    which ends the pass: that member is the sweep's (its retry queued), the three others are
    handed back (was: each failed with the refused write as its error, the study failed)."""
    monkeypatch.setattr(running, "FLUSH_SECONDS", 0.0)  # a report is written as it is made
    add = fused._Reports.add

    def sweep_first(reports: fused._Reports, trial: optuna.Trial, *args: Any) -> bool:
        if trial.number == 0 and not reports.pending:
            _swept(trial)
        return add(reports, trial, *args)

    monkeypatch.setattr(fused._Reports, "add", sweep_first)
    api = apps(**SILENT)
    body = mlp_study("fused-swept", 4, fused_trials=4)
    body["search_space"]["batch_size"] = 64  # one structure: the four train together
    body["budget"] |= {"max_retries": 1}
    study = completed_without_errors(api, body, caplog, n_done=4)
    first, second = study.get_trials(deepcopy=False)[:4], study.get_trials(deepcopy=False)[4:]
    assert [t.state for t in first] == [TrialState.FAIL] * 4, first
    assert "stopped sending heartbeats" in first[0].user_attrs["error"], first[0].user_attrs
    for handed in first[1:]:
        assert handed.user_attrs["error"] == (
            "handed back: a sweep failed trial 0 of its fused pass (heartbeat lapsed); "
            "its parameters run again"
        ), handed.user_attrs
    assert sorted(t.state.name for t in second) <= ["COMPLETE", "PRUNED"] * 4, second
    assert len(second) == 4 and all(t.state.is_finished() for t in second)
    assert {tuple(sorted(t.params.items())) for t in first} == {
        tuple(sorted(t.params.items())) for t in second
    }  # every member's parameters ran again
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
