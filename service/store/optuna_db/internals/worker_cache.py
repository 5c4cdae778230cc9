"""``WorkerHeartbeats``: Optuna's cache over a worker's storage, without Optuna's heartbeat."""

from __future__ import annotations

import time
from collections.abc import Container

from optuna.storages import RDBStorage
from optuna.storages._cached_storage import _CachedStorage, _StudyInfo
from optuna.trial import FrozenTrial, TrialState

from regtune.service.store.optuna_db.internals.one_statement import OneStatementTrialWrites
from regtune.service.store.optuna_db.internals.running_writes import RunningTrialWrites
from regtune.service.store.optuna_db.running import FLUSH_SECONDS


class WorkerHeartbeats(_CachedStorage):
    """Optuna's cache over an RDBStorage for the studies a worker runs, without Optuna's
    heartbeat: no thread per trial and no look for stale trials before each one. The worker's
    own heartbeat thread records its running trial's heartbeat (``record_trial_heartbeat``),
    and the sweep fails stale trials (through a storage whose heartbeat is on)."""

    def __init__(self, backend: RDBStorage) -> None:
        super().__init__(backend)
        self._no_waiting: set[int] = set()
        self._read_at: dict[int, float] = {}
        self._written: dict[int, set[int]] = {}
        """Ids of finished trials this process wrote and cached since the study's last read."""

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        trial_id = super().create_new_trial(study_id, template_trial)
        self._read_at.pop(study_id, None)  # the new trial's sampler reads the study afresh
        return trial_id

    def _read_trials_from_remote_storage(self, study_id: int) -> None:
        """Read the study's new and unfinished trials, at most once a second once the running
        trial has read them: the sampler's reads of one ask are one, and a pruner sees other
        processes' trials as stored at most ``FLUSH_SECONDS`` ago (its own reports always at
        once, and the trials this process runs or ended as they are: ``_own``)."""
        now = time.monotonic()
        last = self._read_at.get(study_id)
        if last is not None and now - last < FLUSH_SECONDS:
            self._own(study_id)
            return
        self._read(study_id)
        self._read_at[study_id] = now

    def _own(self, study_id: int) -> None:
        """Between two reads, the unfinished trials this process runs or has just ended, as it
        wrote them (no query): a fused member's pruner compares it with the other members' rungs
        and reports as they are, not as the clock let the last read see them, so one worker
        prunes the same trials in every run."""
        backend = self._backend
        if not isinstance(backend, RunningTrialWrites):
            return
        with self._lock:
            study = self._studies.get(study_id)
            if study is not None and study.unfinished_trial_ids:
                self._add_trials_to_cache(study_id, backend.kept(study.unfinished_trial_ids))

    def _read(self, study_id: int) -> None:
        """Optuna's read of the study's new and unfinished trials, as its samplers and pruners
        see them (``read_trials(for_sampler=True)``: the worker reads no other trial's user
        attributes or coefficients; the best model reads the trial it refits from the
        database), but for those this process wrote (``add_written``, already cached). Those
        were committed before this read: on SQLite every trial of a lower id was too, and is
        read now, so the read's mark moves past them."""
        backend = self._backend
        assert isinstance(backend, OneStatementTrialWrites), "a worker's storage is regtune's"
        with self._lock:
            written = self._written.pop(study_id, set())
            study = self._studies.setdefault(study_id, _StudyInfo())
            trials = backend._get_trials(
                study_id,
                states=None,
                included_trial_ids=study.unfinished_trial_ids,
                trial_id_greater_than=study.last_finished_trial_id,
                excluded_trial_ids=written,
                for_sampler=True,
            )
            self._add_trials_to_cache(study_id, trials)
            for trial in trials:
                if not trial.state.is_finished():
                    study.unfinished_trial_ids.add(trial._trial_id)
                    continue
                study.unfinished_trial_ids.discard(trial._trial_id)
                study.last_finished_trial_id = max(study.last_finished_trial_id, trial._trial_id)
            if written:
                study.last_finished_trial_id = max(study.last_finished_trial_id, max(written))

    def add_written(self, study_id: int, trials: list[FrozenTrial]) -> None:
        """Finished ``trials`` this process just wrote (each with its id and number): cached
        as read, so that the study's next read leaves them out."""
        with self._lock:
            if study_id not in self._studies:  # not read yet: the first read reads them all
                return
            self._add_trials_to_cache(study_id, trials)
            self._written.setdefault(study_id, set()).update(t._trial_id for t in trials)

    def get_heartbeat_interval(self) -> int | None:
        return None

    def claimed(self, study_id: int, *, waiting: bool) -> None:
        """A slot of ``study_id`` was just claimed: its ask reads the study afresh, and looks for
        a WAITING trial only if the claim saw one (``Claim.waiting``, in its own transaction)."""
        self._read_at.pop(study_id, None)
        if waiting:
            self._no_waiting.discard(study_id)
        else:
            self._no_waiting.add(study_id)

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        waiting = isinstance(states, tuple) and states == (TrialState.WAITING,)
        if waiting and study_id in self._no_waiting:
            self._no_waiting.discard(study_id)
            return []
        return super().get_all_trials(study_id, deepcopy=deepcopy, states=states)
