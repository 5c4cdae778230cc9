"""``RunningTrialWrites``: a trial created in this process kept in memory while it runs, its
reports and attributes written in batches (``optuna_db.running``)."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable, Collection, Container, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from cachetools import LRUCache
from optuna import distributions
from optuna.exceptions import StorageInternalError
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import Connection, Executable
from sqlalchemy.exc import SQLAlchemyError

from regtune.service.store.optuna_db.internals.handles import om
from regtune.service.store.optuna_db.internals.heartbeats import record_trial_heartbeat
from regtune.service.store.optuna_db.internals.one_statement import OneStatementTrialWrites
from regtune.service.store.optuna_db.running import RunningTrial, insert_rows
from regtune.service.store.optuna_db.running import write as write_running

ENDED_KEPT = 64
"""Trials this process ended, kept for the reads that follow (``tell`` reads the trial back)."""


def _snapshot(trial: FrozenTrial) -> FrozenTrial:
    """A copy of a running trial whose dicts are its own and whose values are shared: its
    writes (``RunningTrial``) set keys and attributes and never change a value in place, so this
    is the trial as it is now, at a tenth of a ``deepcopy``'s cost (a pruner reads it at every
    report of a fused pass)."""
    snapshot = copy.copy(trial)
    snapshot.params = dict(trial.params)
    snapshot.distributions = dict(trial.distributions)
    snapshot.user_attrs = dict(trial.user_attrs)
    snapshot.system_attrs = dict(trial.system_attrs)
    snapshot.intermediate_values = dict(trial.intermediate_values)
    return snapshot


class RunningTrialWrites(OneStatementTrialWrites):
    """A trial created in this process is kept in memory while it runs (``running``): reading it
    costs no query, its reports and user attributes are written in batches (at most once a
    second, then with its final state), and its final state, value and pending rows are one
    transaction. Trials of other processes are read and written as Optuna does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._keep()

    def _keep(self) -> None:
        self._running: dict[int, RunningTrial] = {}
        self._ended: LRUCache[int, FrozenTrial] = LRUCache(maxsize=ENDED_KEPT)
        self._running_lock = threading.Lock()

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        for name in ("_running", "_ended", "_running_lock"):
            state.pop(name, None)
        return dict(state)

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self._keep()

    def _mine(self, trial_id: int) -> RunningTrial | None:
        with self._running_lock:
            return self._running.get(trial_id)

    def _create_new_trial(
        self, study_id: int, template_trial: FrozenTrial | None = None
    ) -> FrozenTrial:
        frozen = super()._create_new_trial(study_id, template_trial)
        if frozen.state == TrialState.RUNNING and self._fast() is not None:
            with self._running_lock:
                self._running[frozen._trial_id] = RunningTrial(copy.deepcopy(frozen))
        return frozen

    def get_trial(self, trial_id: int) -> FrozenTrial:
        with self._running_lock:
            mine = self._running.get(trial_id)
            known = mine.trial if mine is not None else self._ended.get(trial_id)
            if known is not None:
                return copy.deepcopy(known)
        return super().get_trial(trial_id)

    def _get_trials(
        self,
        study_id: int,
        states: Container[TrialState] | None,
        included_trial_ids: set[int],
        trial_id_greater_than: int,
        excluded_trial_ids: Collection[int] = (),
        *,
        for_sampler: bool = False,
    ) -> list[FrozenTrial]:
        trials = super()._get_trials(
            study_id,
            states,
            included_trial_ids,
            trial_id_greater_than,
            excluded_trial_ids,
            for_sampler=for_sampler,
        )
        with self._running_lock:
            if not self._running:
                return trials
            return [
                copy.deepcopy(self._running[t._trial_id].trial)
                if t.state == TrialState.RUNNING and t._trial_id in self._running
                else t
                for t in trials
            ]

    def _set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: distributions.BaseDistribution,
        previous_distribution: distributions.BaseDistribution | None,
    ) -> None:
        mine = self._mine(trial_id)
        if mine is not None and mine.together:
            if previous_distribution is not None:
                distributions.check_distribution_compatibility(previous_distribution, distribution)
            if param_name not in mine.trial.params:  # Optuna ignores a second one
                mine.set_param(param_name, param_value_internal, distribution)
            return
        super()._set_trial_param(
            trial_id, param_name, param_value_internal, distribution, previous_distribution
        )
        if mine is not None and param_name not in mine.trial.params:
            mine.trial.params[param_name] = distribution.to_external_repr(param_value_internal)
            mine.trial.distributions[param_name] = distribution

    def when_ended(
        self, trial_id: int, then: Callable[[Connection, TrialState, list[float] | None], None]
    ) -> bool:
        """Run ``then(connection, state, values)`` in the transaction that ends this running
        trial (its final state, values and pending rows), so what the trial's end decides
        commits with it; False if the trial is not running in this process."""
        mine = self._mine(trial_id)
        if mine is None:
            return False
        mine.on_end = then
        return True

    @contextmanager
    def params_together(self, trial_id: int) -> Iterator[None]:
        """The parameters a running trial of this process suggests in this block are written
        together, in one transaction, when it ends (with anything else pending)."""
        mine = self._mine(trial_id)
        if mine is None or mine.together:
            yield
            return
        mine.together = True
        try:
            yield
        finally:
            mine.together = False
            now = time.monotonic()
            self._write(trial_id, mine)
            mine.written(now)

    def _kept(self, trial_id: int, keep: Callable[[RunningTrial], None]) -> bool:
        """``keep`` the write in this process's running trial (written when due); False if the
        trial does not run here (the caller writes it as Optuna does)."""
        mine = self._mine(trial_id)
        if mine is None:
            return False
        keep(mine)
        self._flush_if_due(trial_id, mine)
        return True

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        if not self._kept(trial_id, lambda mine: mine.report(step, intermediate_value)):
            super().set_trial_intermediate_value(trial_id, step, intermediate_value)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        if not self._kept(trial_id, lambda mine: mine.set_user_attr(key, value)):
            super().set_trial_user_attr(trial_id, key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        if not self._kept(trial_id, lambda mine: mine.set_system_attr(key, value)):
            super().set_trial_system_attr(trial_id, key, value)

    def set_trials_intermediate_values(self, reports: Sequence[tuple[int, int, float]]) -> None:
        """Reports of several trials (fused members): kept with those running here, the rest
        written in one statement."""

        def keep(step: int, value: float) -> Callable[[RunningTrial], None]:
            return lambda mine: mine.report(step, value)

        others = [
            (trial_id, step, value)
            for trial_id, step, value in reports
            if not self._kept(trial_id, keep(step, value))
        ]
        if others:
            super().set_trials_intermediate_values(others)

    def set_trial_user_attrs(self, trial_id: int, attrs: Mapping[str, Any]) -> None:
        def keep(mine: RunningTrial) -> None:
            for key, value in attrs.items():
                mine.set_user_attr(key, value)

        if not self._kept(trial_id, keep):
            super().set_trial_user_attrs(trial_id, attrs)

    def _flush_if_due(self, trial_id: int, mine: RunningTrial) -> None:
        now = time.monotonic()
        if mine.due(now):
            self._write(trial_id, mine)
            mine.written(now)

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        mine = self._mine(trial_id)
        if mine is None or not state.is_finished():
            moved = bool(super().set_trial_state_values(trial_id, state, values))
            if moved and state == TrialState.RUNNING and self._fast() is not None:
                # a WAITING trial (a retry, an enqueued trial) this process now runs
                frozen = super().get_trial(trial_id)
                with self._running_lock:
                    self._running[trial_id] = RunningTrial(frozen)
            return moved
        completed = datetime.now()
        final = None if values is None else list(values)
        self._write(trial_id, mine, state=state, values=final, completed=completed)
        mine.finished(state, final, completed)
        with self._running_lock:
            self._running.pop(trial_id, None)
            self._ended[trial_id] = mine.trial
        return True

    def kept(self, trial_ids: Collection[int]) -> list[FrozenTrial]:
        """Those of ``trial_ids`` this process runs or ended, as it wrote them (no query)."""
        with self._running_lock:
            found = [
                mine.trial if (mine := self._running.get(t)) is not None else self._ended.get(t)
                for t in trial_ids
            ]
        return [_snapshot(trial) for trial in found if trial is not None]

    def _write(self, trial_id: int, mine: RunningTrial, **final: Any) -> None:
        """``running.write`` in a transaction of its own; Optuna's errors if it was not running."""
        try:
            with self.engine.begin() as connection:
                written = write_running(connection, om, trial_id, mine, **final)
        except SQLAlchemyError as exc:
            raise StorageInternalError(f"could not write trial {trial_id}: {exc}") from exc
        if not written:
            with self._running_lock:
                self._running.pop(trial_id, None)
            self._not_updatable(trial_id)

    def start_trial(self, trial_id: int, system_attrs: dict[str, Any], check: Executable) -> Any:
        """Record the trial's first heartbeat and its ``system_attrs`` and run ``check`` (a
        scalar query), in one transaction; return what ``check`` found."""
        table = om.TrialSystemAttributeModel.__table__
        rows = [
            {"trial_id": trial_id, "key": key, "value_json": json.dumps(value)}
            for key, value in system_attrs.items()
        ]
        try:
            with self.engine.begin() as connection:
                record_trial_heartbeat(connection, trial_id)
                if rows:
                    insert_rows(connection, table, ("trial_id", "key"), rows)
                found = connection.scalar(check)
        except SQLAlchemyError as exc:
            raise StorageInternalError(f"could not start trial {trial_id}: {exc}") from exc
        mine = self._mine(trial_id)
        if mine is not None:
            mine.trial.system_attrs.update(system_attrs)
        return found
