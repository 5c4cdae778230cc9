"""The sweep leaves nothing RUNNING that nobody runs, on both backends."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import optuna
import pytest
from fastapi.testclient import TestClient
from optuna.distributions import BaseDistribution, FloatDistribution
from optuna.storages._rdb import models as om
from optuna.trial import TrialState, create_trial
from sqlalchemy import Engine, update

from regtune.service.store.db import make_engine, transaction
from regtune.service.store.migrate import upgrade
from regtune.service.store.optuna_db.attrs import (
    STOPPED_BY_CANCEL_ATTR,
    STOPPED_BY_STUDY_FAILURE_ATTR,
    STOPPED_MARKS,
)
from regtune.service.store.scheduling.retries import (
    NEVER_BEAT,
    STOPPED_BEATING,
    get_storage,
    queue_retry,
    storage_with_retries,
)
from regtune.service.store.scheduling.sweep import fail_orphaned_trials, fail_stale_trials
from regtune.service.store.tables import ClaimRow, StudyRow
from regtune.service.store.trials.failures import stopped_marks
from tests.support import study_row


def _add(study: optuna.Study, storage: Any, state: TrialState, *, minutes_ago: float) -> int:
    study.add_trial(
        create_trial(
            state=state,
            params={"x": 0.25},
            distributions={"x": FloatDistribution(0, 1)},
        )
    )
    trial = study.trials[-1]
    started = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=minutes_ago)
    with storage.scoped_session() as session:
        row = session.get(om.TrialModel, trial._trial_id)
        row._datetime_start_utc = started
        session.commit()
    return trial._trial_id


def _errors(database_url: str, *trial_ids: int) -> dict[int, Any]:
    """The ``error`` each trial shows, read afresh (as the API reads it)."""
    storage = storage_with_retries(database_url)
    errors = {i: storage.get_trial(i).user_attrs.get("error") for i in trial_ids}
    storage.engine.dispose()
    return errors


def _study(database_url: str, name: str, status: str) -> tuple[Engine, Any, optuna.Study]:
    """A migrated database holding one regtune study of ``status`` → (engine, Optuna storage,
    the study)."""
    upgrade(database_url)
    engine = make_engine(database_url)
    storage = storage_with_retries(database_url)
    study = optuna.create_study(storage=storage, study_name=name)
    with transaction(engine) as session:
        session.add(study_row(name, study._study_id, status))
    return engine, storage, study


def test_orphans_are_failed_retried_only_while_the_study_runs(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    storage = storage_with_retries(database_url)
    active = optuna.create_study(storage=storage, study_name="active")
    ended = optuna.create_study(storage=storage, study_name="ended")
    with transaction(engine) as session:
        session.add(study_row("active", active._study_id, "running"))
        session.add(study_row("ended", ended._study_id, "completed"))
    orphan = _add(active, storage, TrialState.RUNNING, minutes_ago=10)  # never sent a heartbeat
    fresh = _add(active, storage, TrialState.RUNNING, minutes_ago=0)  # just started: left alone
    leftover_running = _add(ended, storage, TrialState.RUNNING, minutes_ago=10)
    leftover_waiting = _add(ended, storage, TrialState.WAITING, minutes_ago=0)

    assert fail_orphaned_trials(engine, storage) == 3
    assert storage.get_trial(orphan).state == TrialState.FAIL
    assert storage.get_trial(fresh).state == TrialState.RUNNING
    assert storage.get_trial(leftover_running).state == TrialState.FAIL
    assert storage.get_trial(leftover_waiting).state == TrialState.FAIL
    retries = [t for t in active.get_trials() if t.state == TrialState.WAITING]
    assert len(retries) == 1 and retries[0].params == {"x": 0.25}
    assert all(t.state != TrialState.WAITING for t in ended.get_trials())
    assert fail_orphaned_trials(engine, storage) == 0
    # every FAIL says why, in words (a FAIL without them left the operator guessing)
    errors = _errors(database_url, orphan, leftover_running, leftover_waiting)
    assert errors[orphan] == (
        f"{NEVER_BEAT}; queued again as trial #{retries[0].number} with the same parameters"
    )
    assert errors[leftover_running] == f"{NEVER_BEAT}; not retried: the study is completed"
    marks = storage.get_trial(leftover_running).system_attrs
    assert not set(marks) & set(STOPPED_MARKS), "a completed study's end stopped nothing"
    assert errors[leftover_waiting] == ("not run: the study was completed before it started")
    engine.dispose()


def test_a_stale_trial_of_a_cancelled_study_is_not_retried(database_url: str) -> None:
    """A worker that dies while its study is cancelled: its trial is failed, saying so, and no
    retry is queued (it would never run, and was failed at once, saying nothing)."""
    engine, storage, study = _study(database_url, "cancelled", "cancelled")
    trial = _add(study, storage, TrialState.RUNNING, minutes_ago=10)
    five_minutes_ago = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=5)
    with transaction(engine) as session:  # its worker beat, then died, still holding its slot
        session.add(om.TrialHeartbeatModel(trial_id=trial, heartbeat=five_minutes_ago))
        session.add(
            ClaimRow(study_id="cancelled", worker_id="dead", seq=0, claimed_at=five_minutes_ago)
        )

    fail_stale_trials(engine, storage)
    assert [t.state for t in study.get_trials()] == [TrialState.FAIL]
    assert _errors(database_url, trial)[trial] == (
        f"{STOPPED_BEATING}; not retried: the study is cancelled"
    )
    # stopped by the cancel, as its worker would have marked it, not a failure of its own (was:
    # counted as failed, red in `regtune watch`); marked before its FAIL, so no count misses it
    assert storage.get_trial(trial).system_attrs.get(STOPPED_BY_CANCEL_ATTR) is True
    with transaction(engine) as session:
        trials = om.TrialModel.__table__
        marked = session.execute(stopped_marks(trials).where(trials.c.study_id == study._study_id))
        assert [tuple(row) for row in marked] == [(trial, STOPPED_BY_CANCEL_ATTR)]
    engine.dispose()


def test_an_orphan_of_a_failed_study_is_marked_as_stopped_by_its_failure(database_url: str) -> None:
    """A trial of a study that failed (other trials' errors), whose worker died before its first
    heartbeat: failed by the sweep and counted as stopped when the study failed, as its worker
    would have marked it (was: a failure of its own)."""
    engine, storage, study = _study(database_url, "failed", "failed")
    trial = _add(study, storage, TrialState.RUNNING, minutes_ago=10)
    assert fail_orphaned_trials(engine, storage) == 1
    failed = storage.get_trial(trial)
    assert failed.state == TrialState.FAIL
    assert failed.system_attrs.get(STOPPED_BY_STUDY_FAILURE_ATTR) is True
    engine.dispose()


def test_a_dead_workers_trial_failed_by_the_sweep_is_one_log_line(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The operator's log says which trial the sweep failed, why, and which trial retries it
    (it said only "released the slot of dead worker ..."); an orphan's is said once too."""
    engine, storage, study = _study(database_url, "running [abc]", "running")
    stale = _add(study, storage, TrialState.RUNNING, minutes_ago=10)
    orphan = _add(study, storage, TrialState.RUNNING, minutes_ago=10)  # never sent a heartbeat
    five_minutes_ago = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=5)
    with transaction(engine) as session:
        session.add(om.TrialHeartbeatModel(trial_id=stale, heartbeat=five_minutes_ago))

    with caplog.at_level(logging.WARNING):
        fail_stale_trials(engine, storage)
        fail_orphaned_trials(engine, storage)

    retries = {t.number for t in study.get_trials() if t.state == TrialState.WAITING}
    lines = [r.getMessage() for r in caplog.records if "failed:" in r.getMessage()]
    assert len(lines) == 2 and len(retries) == 2, lines
    again = "; queued again as"
    assert lines[0].startswith(f"study running [abc] trial 0 failed: {STOPPED_BEATING}{again}")
    assert lines[1].startswith(f"study running [abc] trial 1 failed: {NEVER_BEAT}{again}")
    assert {int(line.split("#")[1].split()[0]) for line in lines} == retries
    assert all(line.endswith("with the same parameters") for line in lines), lines
    assert _errors(database_url, orphan)[orphan] in lines[1]
    engine.dispose()


def test_a_study_deleted_with_optuna_is_removed(api: TestClient) -> None:
    """``optuna.delete_study`` (or optuna-dashboard's Delete) on a regtune study: the API
    showed the study on, with no trials, as if it had never run; the sweep removes it."""
    from regtune.service.store.scheduling.sweep import sweep

    body = {
        "dataset": {"builtin": "diabetes"},
        "search_space": {"lambda": {"low": 1e-4, "high": 1.0, "log": True}},
    }
    kept, deleted = (api.post("/v1/studies", json=body | {"name": n}).json() for n in "ab")
    optuna.delete_study(study_name=deleted["optuna_study_name"], storage=get_storage())
    optuna.create_study(study_name="someone else's", storage=get_storage())  # may take its id
    sweep()
    assert api.get(f"/v1/studies/{deleted['id']}").status_code == 404
    listed = [s["id"] for s in api.get("/v1/studies").json()["items"]]
    assert listed == [kept["id"]]
    assert api.get(f"/v1/studies/{kept['id']}").json()["status"] == "queued"


def test_hand_backs_spend_none_of_the_retries_a_trial_has_for_dead_workers(
    database_url: str,
) -> None:
    """A trial handed back twice (its workers stopped by two scale-downs) whose next worker dies:
    that is its first death, retried under ``budget.max_retries: 1``; a second death fails the
    study, saying 2. Optuna's ``retry_history`` lists the hand-backs too, and the sweep counted
    them as deaths: the study failed at the first, "the worker running it died 3 times"."""
    engine, storage, study = _study(database_url, "handed-back", "running")
    with transaction(engine) as session:
        session.execute(update(StudyRow).where(StudyRow.id == "handed-back").values(max_retries=1))
    x: dict[str, BaseDistribution] = {"x": FloatDistribution(0, 1)}

    def dies(trial: optuna.trial.Trial) -> None:
        """Its worker dies before its first heartbeat, ten minutes ago; the sweep sees it."""
        started = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=10)
        with storage.scoped_session() as session:
            session.get(om.TrialModel, trial._trial_id)._datetime_start_utc = started
            session.commit()
        assert fail_orphaned_trials(engine, storage) == 1

    def study_now() -> StudyRow:
        with transaction(engine) as session:
            row = session.get(StudyRow, "handed-back")
            assert row is not None
            session.expunge(row)
            return row

    trial = study.ask(x)
    for _ in range(2):  # handed back as a worker hands a trial back: FAIL, a copy queued
        study.tell(trial, state=TrialState.FAIL)
        queue_retry(study, storage.get_trial(trial._trial_id), max_retry=None)
        trial = study.ask()
    dies(trial)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL] * 3 + [TrialState.WAITING]
    assert trials[3].params == trials[0].params
    assert study_now().status == "running", study_now().error
    assert _errors(database_url, trials[2]._trial_id)[trials[2]._trial_id] == (
        f"{NEVER_BEAT}; queued again as trial #3 with the same parameters"
    )

    dies(study.ask())  # its next worker dies too: no retry left
    ended = study_now()
    assert ended.status == "failed", ended.error
    assert (ended.error or "").startswith("trial 0: the worker running it died 2 times "), ended
    engine.dispose()
