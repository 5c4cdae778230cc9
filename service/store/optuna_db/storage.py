"""Optuna's RDBStorage on regtune's database, with heartbeats and per-study retries."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import optuna
from optuna.exceptions import StorageInternalError
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial
from sqlalchemy import Engine
from sqlalchemy.orm import scoped_session, sessionmaker

from regtune.service.settings import Settings, get_settings
from regtune.service.store.backoff import describe
from regtune.service.store.db import engine_kwargs
from regtune.service.store.optuna_db.internals.running_writes import RunningTrialWrites
from regtune.service.store.optuna_db.internals.versions import known_current

log = logging.getLogger(__name__)


class HeartbeatTolerantStorage(RDBStorage):
    """RDBStorage whose trial heartbeat survives a database blip.

    Optuna's heartbeat thread ends at the first error, so after a one-second outage a healthy
    trial would be failed as stale. A missed beat is let go and the next one tried instead; a
    worker that is really gone still stops beating. An outage is one warning, at its first
    missed beat, and one line when a beat is recorded again (a fused run's members each beat
    every interval: a line per missed beat was dozens a minute).
    """

    _missed = 0
    _missed_lock = threading.Lock()

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            super().record_heartbeat(trial_id)
        except StorageInternalError as exc:
            with self._missed_lock:
                self._missed += 1
                first = self._missed == 1
            if first:
                log.warning(
                    "trial heartbeat missed (%s); each is tried again at its next beat until "
                    "the database answers",
                    describe(exc),
                )
            return
        if self._missed:
            with self._missed_lock:
                missed, self._missed = self._missed, 0
            if missed:
                log.info("trial heartbeats recorded again after %d missed", missed)


class Storage(RunningTrialWrites, HeartbeatTolerantStorage):
    """The storage every regtune process uses: same tables and rows as Optuna's RDBStorage."""


def make_storage(
    url: str | None = None,
    *,
    on_stale_trial: Callable[[optuna.Study, FrozenTrial], None] | None = None,
    settings: Settings | None = None,
) -> RDBStorage:
    """Optuna's storage on regtune's database; ``on_stale_trial`` handles dead workers' trials.
    Heartbeats and the grace period are ``settings``' (the process's by default)."""
    settings = settings or get_settings()
    url = url or settings.database_url
    current = known_current(url)  # this process migrated it: Optuna's tables are made and checked
    return Storage(
        url,
        engine_kwargs=engine_kwargs(url),
        skip_compatibility_check=current,
        skip_table_creation=current,
        heartbeat_interval=settings.heartbeat_interval,
        grace_period=settings.grace_period,
        heartbeat_stale_trial_callback=on_stale_trial,
    )


def run_on(storage: RDBStorage, engine: Engine) -> None:
    """Make ``storage`` use ``engine`` (the process's own, on the same database): one pool of
    connections per process instead of two. A worker does, so it holds
    ``db_pool_size + db_max_overflow`` connections (its main thread and its heartbeat thread);
    the API keeps two pools, so Optuna's reads do not queue behind its own."""
    if storage.engine is engine:
        return
    if storage.engine.url != engine.url:
        raise ValueError(f"{storage.engine.url!r} and {engine.url!r} are different databases")
    own = storage.engine
    storage.engine = engine
    storage.scoped_session = scoped_session(sessionmaker(bind=engine))
    own.dispose()
