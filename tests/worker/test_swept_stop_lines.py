"""A worker that comes back from a pause past its grace period and finds its trial stopped (its
study ended meanwhile, a cancel, or its own SIGTERM) while a sweep had failed that trial already
says so at INFO: the sweep's FAIL stands and its retry is queued, nothing is lost. It logged
WARNING "could not record the trial's error (StudyStopped: the study ended (completed) while the
trial ran)", which named the error it meant to record as the one that stopped it, before
"trial 0 was failed by a sweep (heartbeat lapsed); its retry is trial N"."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import optuna
import pytest

from regtune.service.spec.definition import StudySpec
from regtune.service.spec.enums import StudyStatus
from regtune.worker import fused
from regtune.worker.search import StopCheck, suggest
from regtune.worker.stops import HandBack, StudyStopped
from tests.inprocess import Apps, run_to_the_end
from tests.service.test_client_optuna import STUDY
from tests.worker.test_fused_trials import mlp_study
from tests.worker.test_swept_mid_trial import SILENT, _swept, completed_without_errors

STOPS: dict[str, Exception] = {
    "completed": StudyStopped(StudyStatus.COMPLETED),
    "cancelled": StudyStopped(StudyStatus.CANCELLED),
    "stopping": HandBack("the worker is stopping"),
}
"""What the resumed worker's stop check raises, by the study's name."""


def swept_then_stopped(
    spec: StudySpec, *, stop_check: StopCheck
) -> Callable[[optuna.Trial], float]:
    """Trial 0 is failed by a sweep while it runs (its worker silent), then stops as the study's
    name says, as its stop check raises it on the worker's return; every other trial scores its
    λ at once."""

    def objective(trial: optuna.Trial) -> float:
        values = suggest(trial, spec)
        if trial.number == 0:
            _swept(trial)
            raise STOPS[spec.name]
        stop_check()
        return values["lambda"]

    return objective


def stopped(spec: StudySpec, *, stop_check: StopCheck) -> Callable[[optuna.Trial], float]:
    """Trial 0 is handed back (its worker stopping) with no sweep meanwhile; every other trial
    scores its λ at once."""

    def objective(trial: optuna.Trial) -> float:
        values = suggest(trial, spec)
        if trial.number == 0:
            raise STOPS[spec.name]
        stop_check()
        return values["lambda"]

    return objective


@pytest.mark.parametrize("stop", sorted(STOPS))
def test_a_stop_found_after_a_sweep_failed_the_trial_is_said_plainly(
    apps: Apps, caplog: pytest.LogCaptureFixture, stop: str
) -> None:
    api = apps(objective_factory=f"{__name__}:swept_then_stopped", **SILENT)
    body = STUDY | {"name": stop, "budget": {"n_trials": 3, "max_parallel": 1, "max_retries": 1}}
    completed_without_errors(api, body, caplog, n_done=3)
    said = [(r.levelno, r.getMessage()) for r in caplog.records]
    warned = [m for level, m in said if level >= logging.WARNING and r"could not record" in m]
    assert warned == [], warned
    plainly = (
        "trial 0 was finished meanwhile (by a sweep): why it stopped here is not recorded on "
        f"it, nothing is lost ({STOPS[stop]})"
    )
    assert (logging.INFO, plainly) in said, said
    assert any("trial 0 was failed by a sweep (heartbeat lapsed)" in m for _, m in said), said


def test_a_note_that_cannot_be_recorded_is_warned_of_with_its_own_error(
    apps: Apps, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """No sweep: the trial is still RUNNING when its note fails, and that is warned of, naming
    what the write met (was: the error it meant to record, the root of the chain)."""
    set_attr = optuna.Trial.set_user_attr

    def refused(trial: optuna.Trial, key: str, value: object) -> None:
        if key == "error":
            raise RuntimeError("the write was refused")
        set_attr(trial, key, value)

    monkeypatch.setattr(optuna.Trial, "set_user_attr", refused)
    api = apps(objective_factory=f"{__name__}:stopped", **SILENT)
    body = STUDY | {"name": "stopping", "budget": {"n_trials": 2, "max_parallel": 1}}
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    with caplog.at_level(logging.INFO):
        run_to_the_end(api, created.json()["id"], timeout=300)
    warned = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "could not record" in r.getMessage()
    ]
    assert warned == ["could not record the trial's error (RuntimeError: the write was refused)"]


def test_a_fused_member_a_sweep_failed_before_its_pass_stopped_is_said_plainly(
    apps: Apps, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The pass's first report: a sweep has failed member 0 meanwhile, and the worker's stop
    check then hands the pass back: member 0 is the sweep's, said at INFO, the others handed
    back."""
    add = fused._Reports.add

    def swept_then_stopping(reports: fused._Reports, trial: optuna.Trial, *args: Any) -> bool:
        if trial.number == 0 and not reports.pending:
            _swept(trial)
            raise STOPS["stopping"]
        return add(reports, trial, *args)

    monkeypatch.setattr(fused._Reports, "add", swept_then_stopping)
    api = apps(**SILENT)
    body = mlp_study("fused-swept-stopped", 4, fused_trials=4)
    body["search_space"]["batch_size"] = 64  # one structure: the four train together
    completed_without_errors(api, body, caplog, n_done=4)
    said = [(r.levelno, r.getMessage()) for r in caplog.records]
    warned = [m for level, m in said if level >= logging.WARNING and r"could not record" in m]
    assert warned == [], warned
    plainly = (
        "trial 0 was finished meanwhile (by a sweep): why it stopped here is not recorded on "
        "it, nothing is lost (the worker is stopping)"
    )
    assert (logging.INFO, plainly) in said, said
    assert any("trial 0 was failed by a sweep (heartbeat lapsed)" in m for _, m in said), said
