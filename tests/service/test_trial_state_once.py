"""A trial leaves WAITING for RUNNING, or an open state for a finished one, once, however many
processes try at the same moment (``OneStatementTrialWrites.set_trial_state_values``). Optuna's
own reads the trial, then writes it: on SQLite, where that read takes no lock, two sweeps could
both fail one stale trial (each queuing a retry of it), and two workers both take one WAITING
trial."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from datetime import datetime

import optuna
import pytest
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from regtune.service.store.migrate import upgrade
from regtune.service.store.optuna_db.storage import make_storage

TRIES = 6
"""Storages (as many processes) trying the same change at once."""


@pytest.fixture
def storages(database_url: str) -> Iterator[list[RDBStorage]]:
    upgrade(database_url)
    made = [make_storage(database_url) for _ in range(TRIES)]
    yield made
    for storage in made:
        storage.engine.dispose()


def _at_once(calls: list[Callable[[], bool]]) -> list[bool | Exception]:
    """Every call started together (one thread each); what each returned or raised."""
    start = threading.Barrier(len(calls))
    results: list[bool | Exception] = [False] * len(calls)

    def run(i: int, call: Callable[[], bool]) -> None:
        start.wait()
        try:
            results[i] = call()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_a_running_trial_is_failed_once(storages: list[RDBStorage]) -> None:
    study = optuna.create_study(storage=storages[0])
    trial_id = study.ask()._trial_id
    results = _at_once(
        [functools.partial(s.set_trial_state_values, trial_id, TrialState.FAIL) for s in storages]
    )
    assert results.count(True) == 1, results
    assert all(isinstance(r, UpdateFinishedTrialError) for r in results if r is not True), results
    assert storages[0].get_trial(trial_id).state == TrialState.FAIL


def test_a_waiting_trial_is_taken_once(storages: list[RDBStorage]) -> None:
    study = optuna.create_study(storage=storages[0])
    study.enqueue_trial({"x": 0.5})
    (waiting,) = storages[0].get_all_trials(study._study_id, states=(TrialState.WAITING,))
    trial_id = waiting._trial_id
    results = _at_once(
        [
            functools.partial(s.set_trial_state_values, trial_id, TrialState.RUNNING)
            for s in storages
        ]
    )
    assert results.count(True) == 1 and results.count(False) == TRIES - 1, results
    taken = storages[0].get_trial(trial_id)
    assert taken.state == TrialState.RUNNING and taken.datetime_start is not None


def test_a_waiting_trial_starts_when_optuna_reads_it_did(
    storages: list[RDBStorage], oslo_time: None
) -> None:
    """Optuna stores trial times in UTC and reads them back as local time: the start written
    when a WAITING trial is taken is now, not now shifted by the local offset (the sweep and
    the claims compare it with UTC times)."""
    study = optuna.create_study(storage=storages[0])
    study.enqueue_trial({"x": 0.5})
    (waiting,) = storages[0].get_all_trials(study._study_id, states=(TrialState.WAITING,))
    before = datetime.now()
    assert storages[1].set_trial_state_values(waiting._trial_id, TrialState.RUNNING)
    after = datetime.now()
    started = storages[0].get_trial(waiting._trial_id).datetime_start
    assert started is not None and before <= started <= after, (before, started, after)


def test_a_finished_trial_is_not_moved(storages: list[RDBStorage]) -> None:
    study = optuna.create_study(storage=storages[0])
    trial = study.ask()
    study.tell(trial, 1.0)
    with pytest.raises(UpdateFinishedTrialError):
        storages[1].set_trial_state_values(trial._trial_id, TrialState.FAIL)
    with pytest.raises(KeyError):
        storages[1].set_trial_state_values(10**9, TrialState.FAIL)
