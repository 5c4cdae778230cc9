"""The worker's heartbeat: its thread, the study and trial it reports, the slot a lapse puts at
risk, and the stop it brings back (the study being run cancelled, deleted or ended)."""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from datetime import datetime

from regtune.service.settings import Settings
from regtune.service.spec.enums import ACTIVE
from regtune.service.store.backoff import describe
from regtune.service.store.scheduling import workers as workers
from regtune.worker.stops import Stopped

log = logging.getLogger(__name__)


class Heartbeat:
    """One worker's heartbeat, beaten on its own thread (and by the loop before a claim when it
    lapsed): the row ``GET /v1/workers`` lists, and the running trial's Optuna heartbeat."""

    def __init__(self, worker_id: str, *, settings: Settings, started_at: datetime) -> None:
        self.worker_id = worker_id
        self.settings = settings
        self.started_at = started_at
        self.current: tuple[str | None, int | None] = (None, None)
        """The study and trial being run, as the heartbeat reports them."""
        self.trial_id: int | None = None
        """The running trial's row: the heartbeat thread beats for it (Optuna's is off)."""
        self.stopped: Stopped | None = None
        """Set by a heartbeat when the study being run was cancelled, deleted or ended."""
        self.failed = 0
        """Heartbeats failed in a row: the first is logged, and the one that succeeds after."""
        self._ended = threading.Event()
        """Set once the worker's loop is over: the heartbeat goes on until then, not until the
        worker is stopping, since a stopping worker still holds its trial and slot while it ends
        the trial (up to a grace period for the database): a silent worker's are the sweep's."""
        self._thread: threading.Thread | None = None
        self._last = time.monotonic()
        self._slot_at_risk = False
        self._fence = max(1.0, float(settings.grace_period - settings.heartbeat_interval))
        """Seconds without a recorded heartbeat after which a sweep may have taken our slot."""

    def start(self) -> None:
        """Beat every heartbeat interval from now (the worker registered) until ``stop``, on a
        thread in this context: its lines carry the worker's id too."""
        self._last = time.monotonic()
        self._thread = threading.Thread(
            target=contextvars.copy_context().run,
            args=(self._beat_until_ended,),
            name="regtune-heartbeat",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """The loop is over: beat no more (a beat after the unregister would register the
        worker again)."""
        self._ended.set()
        if self._thread is not None:
            self._thread.join()

    def _beat_until_ended(self) -> None:
        while not self._ended.wait(self.settings.heartbeat_interval):
            self.beat()

    def lapsed(self) -> bool:
        """True if no heartbeat was recorded for so long that a sweep may have taken our slot."""
        return time.monotonic() - self._last > self._fence

    def claimed(self) -> None:
        """A claim was taken: no lapse before it puts its slot at risk."""
        self._slot_at_risk = False

    def beat(self, *, raise_errors: bool = False) -> None:
        """Record a heartbeat; note if the previous one is so old that the slot may be gone."""
        study_id, number = self.current
        sent = time.monotonic()
        try:
            status = workers.beat(
                self.worker_id,
                study_id=study_id,
                trial_number=number,
                trial_id=self.trial_id,
                settings=self.settings,
                started_at=self.started_at,
            )
        except Exception as exc:
            if raise_errors:
                raise
            self.failed += 1
            if self.failed == 1:  # one line per outage: the next ones say nothing new
                log.warning(
                    "heartbeat failed (%s); retrying every %ss until the database answers",
                    describe(exc),
                    self.settings.heartbeat_interval,
                )
            return
        if self.failed:
            log.info("heartbeat recorded again after %d failed", self.failed)
            self.failed = 0
        if study_id is not None and status not in ACTIVE:
            self.stopped = Stopped(study_id, status, sent)  # one assignment: no lock needed
        now = time.monotonic()
        if now - self._last > self._fence:
            self._slot_at_risk = True
        self._last = now

    def slot_at_risk(self) -> bool:
        """True if the heartbeat lapsed long enough since the claim for a sweep to release it.

        Checked before a trial starts: once the trial runs and is linked to the claim, the sweep
        keeps the slot for as long as the trial's own heartbeat lives.
        """
        return self._slot_at_risk or self.lapsed()
