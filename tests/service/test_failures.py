"""What became of a study's FAIL trials, read on both backends by the per-process index (what
``GET /v1/studies/{id}`` shows, in its delta read: no statement of its own) and by the report's
count by state, alike: a trial interrupted and run again (a copy of its parameters was queued,
as a worker's hand-back and the sweep queue it), a queued trial that never ran, a trial a cancel
stopped, a trial its study's failure stopped, and a trial that failed of itself."""

from __future__ import annotations

import uuid

import optuna
from optuna.distributions import BaseDistribution, FloatDistribution
from optuna.trial import TrialState

from regtune.service.store.db import make_engine, transaction
from regtune.service.store.migrate import upgrade
from regtune.service.store.optuna_db.attrs import (
    STOPPED_BY_CANCEL_ATTR,
    STOPPED_BY_STUDY_FAILURE_ATTR,
)
from regtune.service.store.scheduling.retries import queue_retry, storage_with_retries
from regtune.service.store.trials.failures import Failures
from regtune.service.store.trials.report import state_counts
from regtune.service.store.trials.views import failures, study_reads

optuna.logging.set_verbosity(optuna.logging.WARNING)
X: dict[str, BaseDistribution] = {"x": FloatDistribution(0.0, 1.0)}


def test_the_index_and_the_report_tell_interrupted_trials_from_failed_ones(
    database_url: str,
) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    storage = storage_with_retries(database_url)
    study = optuna.create_study(storage=storage)
    key = uuid.uuid4().hex  # regtune's study id: a fresh database reuses Optuna's ids

    def seen(*, by: str = key) -> Failures:
        """The index's answer, after checking that the report's count agrees."""
        with transaction(engine) as session:
            study_reads(session, study._study_id, key=by, direction="minimize")
            by_index = failures(study._study_id, key=by)
            assert state_counts(session, study._study_id)[1] == by_index
        return by_index

    def interrupt() -> None:
        """Fail a running trial and queue a copy of its parameters, as a hand-back does."""
        trial = study.ask(X)
        study.tell(trial, state=TrialState.FAIL)
        queue_retry(study, storage.get_trial(trial._trial_id), max_retry=None)

    try:
        raised = study.ask(X)
        assert seen() == Failures()
        study.tell(raised, state=TrialState.FAIL)  # its objective raised: no copy
        interrupt()
        assert seen() == Failures(failed=2, retried=1)  # the copy WAITING

        again = study.ask()  # the copy runs and completes
        assert again.params == study.trials[1].params
        assert seen() == Failures(failed=2, retried=1)
        study.tell(again, 1.0)

        interrupt()  # and the study ends before its copy runs: the sweep fails it unstarted
        waiting = [t for t in study.get_trials() if t.state == TrialState.WAITING]
        storage.set_trial_state_values(waiting[0]._trial_id, state=TrialState.FAIL)
        ended = seen()
        assert ended == Failures(failed=4, retried=2, not_run=1, retries_not_run=1)
        assert (ended.interrupted, ended.run_again, ended.own) == (2, 1, 1)
        assert seen(by=uuid.uuid4().hex) == ended  # a new process's index, read at once

        cancelled = study.ask(X)  # a cancel stopped it: its worker marked it so
        storage.set_trial_system_attr(cancelled._trial_id, STOPPED_BY_CANCEL_ATTR, True)
        study.tell(cancelled, state=TrialState.FAIL)
        stopped = seen()
        assert stopped == Failures(
            failed=5, retried=2, not_run=1, retries_not_run=1, stopped_by_cancel=1
        )
        assert (stopped.interrupted, stopped.own) == (2, 1)  # not a failure of its own
        assert seen(by=uuid.uuid4().hex) == stopped

        for _ in range(2):  # the study failed: their workers marked them so
            failed_with = study.ask(X)
            storage.set_trial_system_attr(
                failed_with._trial_id, STOPPED_BY_STUDY_FAILURE_ATTR, True
            )
            study.tell(failed_with, state=TrialState.FAIL)
        ended_all = seen()
        assert ended_all == Failures(
            failed=7,
            retried=2,
            not_run=1,
            retries_not_run=1,
            stopped_by_cancel=1,
            stopped_by_study_failure=2,
        )
        assert (ended_all.interrupted, ended_all.own) == (2, 1)  # no failures of their own
        assert seen(by=uuid.uuid4().hex) == ended_all
    finally:
        storage.engine.dispose()
        engine.dispose()
