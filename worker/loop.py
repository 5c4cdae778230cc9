"""The worker: claim a slot, run exactly one Optuna trial, finish the slot; back off when idle
(woken early by a commit to a SQLite database: ``scheduling.wake``)."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from types import FrameType
from typing import TYPE_CHECKING

import optuna
from cachetools import LRUCache

from regtune.service import heap, logs
from regtune.service.settings import Settings, get_settings
from regtune.service.spec.definition import StudySpec
from regtune.service.store.backoff import (
    TRANSIENT,
    Backoff,
    OutageLog,
    Patience,
    describe,
    retry_forever,
)
from regtune.service.store.clock import utcnow
from regtune.service.store.db import connection_limit, get_engine
from regtune.service.store.optuna_db.internals.worker_cache import WorkerHeartbeats
from regtune.service.store.optuna_db.storage import run_on
from regtune.service.store.scheduling import workers as workers
from regtune.service.store.scheduling.claims import finishing, taking
from regtune.service.store.scheduling.claims.slot import Claim
from regtune.service.store.scheduling.retries import get_storage
from regtune.service.store.scheduling.sweep import sweep
from regtune.service.store.scheduling.wake import Changes
from regtune.worker.failures import trial_error
from regtune.worker.hand_back import HandBacks
from regtune.worker.heartbeat import Heartbeat
from regtune.worker.model_save import save_best_model_of
from regtune.worker.stops import HandBack, StudyStopped, quiet_stops
from regtune.worker.tally import Tally
from regtune.worker.trial_run import TrialRun, cannot_run

if TYPE_CHECKING:
    from regtune.worker.search import ObjectiveFactory

log = logging.getLogger(__name__)
WORKER_ENGINES = 1
"""regtune's engine, which Optuna's storage shares in a worker (``storage.run_on``)."""
STUDY_CACHE_SIZE = 32
"""Studies a worker keeps loaded (with their cached trials) across claims."""


class Worker:
    def __init__(self, settings: Settings | None = None) -> None:
        quiet_stops()
        self.settings = settings or get_settings()
        self.id = workers.new_worker_id()
        self.started_at = utcnow()
        """When this worker started: its row's ``started_at`` (``GET /v1/workers``), kept when it
        registers again after a sweep took it for dead (a pause past its grace period)."""
        self.stopping = threading.Event()
        self.ending = Patience(self.stopping, float(self.settings.grace_period))
        """What the writes that end a trial give up on: a stop lets them wait a grace period
        for the database, so a trial cut off by an outage and a stop is handed back uncounted
        when the database answers in time, not left to the sweep as its worker's death."""
        self.heartbeat = Heartbeat(self.id, settings=self.settings, started_at=self.started_at)
        self._last_sweep = 0.0
        self._factory: ObjectiveFactory | None = None
        self._studies: LRUCache[str, optuna.Study] = LRUCache(maxsize=STUDY_CACHE_SIZE)
        self._definitions: LRUCache[str, StudySpec] = LRUCache(maxsize=STUDY_CACHE_SIZE)
        self.unknown: set[str] = set()
        """Studies whose definitions a newer regtune wrote: this worker claims them no more."""
        self._claimed_at = time.monotonic()
        """When the last claim was taken: a stop seen by a heartbeat sent before it may be of a
        study reopened since (``extend``), and stops nothing."""
        self._claim_seconds = 0.0
        """How long the last claim's transactions took (a fused pass's second, for its further
        slots, too): recorded once per claim, on the first trial it starts, or on the FAIL trial
        of a claim that could not set its trial up (``regtune_claim_latency_seconds``)."""
        self._signal: int | None = None
        """The signal that stopped the worker, if one did."""
        self.hand_backs = HandBacks(self.ending)
        self.tally = Tally()

    @property
    def current(self) -> tuple[str | None, int | None]:
        """The study and trial being run, as the heartbeat reports them (``GET /v1/workers``)."""
        return self.heartbeat.current

    @current.setter
    def current(self, value: tuple[str | None, int | None]) -> None:
        self.heartbeat.current = value

    # ------------------------------------------------------------------ lifecycle

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGINT, self.on_signal)

    def on_signal(self, signum: int, _frame: FrameType | None = None) -> None:
        """Stop after the current step. Which trial, if any, is handed back is known only once
        it stopped (one that was ending goes on to end), so the line names none, and no trial
        the context may still name; ``run`` says what was handed back as it ends."""
        self._signal = signum
        with logs.context():
            log.info("signal %s: stopping", signum)
        self.stopping.set()

    def run(self, *, max_trials: int | None = None, settle_heap: bool = False) -> int:
        """Loop until stopped (or ``max_trials`` claims ran, a fused claim counting each trial it
        started, none if it gave its slots back first); return how many ran (``tally`` has the
        trials written).

        ``settle_heap`` (``regtune worker``): at start and after every claim that imported
        modules, freeze the heap (``heap.Resettle``), so that a full garbage collection never
        holds the database's lock for a tenth of a second."""
        from regtune.worker.fused import run_fused

        self.objective_factory()  # a bad REGTUNE_OBJECTIVE_FACTORY fails here, not per trial
        # Optuna's storage reads its version table as it opens: an outage then is waited out
        # as one at registering is (was: the worker's exit, right after its migration's check)
        retry_forever(
            lambda: run_on(get_storage(), get_engine()),
            what="open Optuna's storage",
            stop=self.stopping,
        )
        retry_forever(
            lambda: workers.register(self.id, settings=self.settings, started_at=self.started_at),
            what="register",
            stop=self.stopping,
        )
        named = logs.worker_var.set(self.id)  # this loop's log lines carry its id, until it ends
        log.info("worker %s registered; %s", self.id, self.connections())
        self.heartbeat.start()
        idle = Backoff(self.settings.poll_min, self.settings.poll_max)
        outage = Backoff(0.5, 10.0)
        unreachable = OutageLog("look for work", logger=log)
        changes = self._changes()  # what ends an idle wait early
        settle = heap.Resettle() if settle_heap else lambda: False
        settle()
        ran = 0
        try:
            while not self.stopping.is_set() and (max_trials is None or ran < max_trials):
                try:
                    if self.heartbeat.lapsed():
                        self.heartbeat.beat(raise_errors=True)
                    changes.mark()
                    asked = time.perf_counter()
                    claim = taking.claim(
                        worker_id=self.id,
                        tenant_max_running=self.settings.tenant_max_running,
                        skip=self.unknown,
                    )
                    self._claim_seconds = time.perf_counter() - asked
                    self._claimed_at = time.monotonic()
                except TRANSIENT as exc:
                    unreachable.failed(exc)
                    self.stopping.wait(outage.next())
                    continue
                outage.reset()
                unreachable.succeeded()
                if claim is None:
                    if self._sweep_due():
                        changes.busy()  # the sweep and a catch-up refit use the whole pool
                        self._sweep()
                    changes.wait(idle.next(), self.stopping)
                    continue
                changes.busy()
                idle.reset()
                self.heartbeat.claimed()
                self.current = (claim.study_id, None)
                with logs.context(study_id=claim.study_id):
                    left = None if max_trials is None else max_trials - ran
                    started = run_fused(self, claim, limit=left)
                    if started is None:  # not fused: one trial
                        self._run_claim(claim)
                        started = int(claim.study_id not in self.unknown)  # given back: none ran
                ran += started
                self.tally.claims += started or 1
                settle()  # the first claim of a kind imported what it needs: frozen too
        finally:
            self.stopping.set()
            self.heartbeat.stop()
            changes.close()
            try:
                workers.unregister(self.id)
            except TRANSIENT as exc:
                log.warning("could not unregister (%s); the sweep will remove it", describe(exc))
            if self._signal is not None:
                back = ", ".join(self.hand_backs.while_stopping)
                done = f"handed back {back}" if back else "no trial to hand back"
                log.info("signal %s: %s", self._signal, done)
            log.info(
                "worker %s stopped: %s",
                self.id,
                self.tally,
                extra={"claims": self.tally.claims, "trials_written": self.tally.trials},
            )
            logs.worker_var.reset(named)
        return ran

    def _changes(self) -> Changes:
        """What ends an idle wait early. On PostgreSQL the wait listens on one of the engine's
        connections, which only a pool of two or more can lend (the heartbeat needs one)."""
        limit = connection_limit(self.settings, engines=WORKER_ENGINES)
        listens = self.settings.listen_for_work and limit is not None and limit >= 2
        engine = get_engine() if listens else None
        return Changes(self.settings.database_url, engine=engine)

    def connections(self) -> str:
        """How many database connections this worker may hold: what a pool of N workers asks
        of PostgreSQL's ``max_connections``."""
        settings = self.settings
        limit = connection_limit(settings, engines=WORKER_ENGINES)
        if limit is None:
            return "SQLite file: no database server connections"
        return (
            f"it may hold up to {limit} database connections ({WORKER_ENGINES} engine × "
            f"(REGTUNE_DB_POOL_SIZE {settings.db_pool_size} + REGTUNE_DB_MAX_OVERFLOW "
            f"{settings.db_max_overflow})); N workers need N × {limit} of max_connections"
        )

    def slot_at_risk(self) -> bool:
        """``Heartbeat.slot_at_risk``: checked before a trial of the claim starts."""
        return self.heartbeat.slot_at_risk()

    def _sweep_due(self) -> bool:
        return time.monotonic() - self._last_sweep >= self.settings.sweep_interval

    def _sweep(self) -> None:
        self._last_sweep = time.monotonic()
        try:
            sweep()
        except Exception as exc:
            log.warning("sweep failed (%s)", type(exc).__name__)
            return
        from regtune.service.store.repos.missing_models import studies_missing_a_model

        try:
            missing = studies_missing_a_model(limit=1, skip=self.unknown)
        except Exception as exc:
            log.warning("could not look for studies without a model (%s)", type(exc).__name__)
            return
        for study_id in missing:
            self._save_best_model(study_id)

    # ------------------------------------------------------------------ one claim

    def objective_factory(self) -> ObjectiveFactory:
        if self._factory is None:
            from regtune.worker.search import load_factory

            self._factory = load_factory(self.settings.objective_factory)
        return self._factory

    def _load_study(self, optuna_name: str) -> optuna.Study:
        """The study, kept across claims so that its trial cache stays warm.

        A freshly loaded study reads every trial of the study when the sampler first asks, so
        loading it per claim made each trial cost O(trials so far); kept, it reads only the trials
        that are new or were unfinished since the last claim.
        """
        study = self._studies.get(optuna_name)
        if study is None:
            storage = WorkerHeartbeats(get_storage())
            study = optuna.load_study(study_name=optuna_name, storage=storage)
            self._studies[optuna_name] = study
        return study

    def _definition(self, claim: Claim) -> StudySpec:
        """The stored definition, parsed once per study and budget: only an extension changes
        it, and every extension grows ``budget.n_trials`` (which sizes a λ path) and may append
        points to evaluate (which say whether a trial runs a path), so a grown budget is parsed
        anew. The budget the claims count is the study's row's, never this one's."""
        spec = self._definitions.get(claim.study_id)
        if spec is None or spec.budget.n_trials != claim.definition["budget"]["n_trials"]:
            spec = StudySpec.from_stored(claim.definition)
            self._definitions[claim.study_id] = spec
        return spec

    def _run_claim(self, claim: Claim) -> None:
        error: str | None = None
        trial = TrialRun(self, claim)
        try:
            error = trial.run()
        except TRANSIENT as exc:
            trial.told = None  # the tell that would have finished the slot did not commit
            log.warning("study %s: database error (%s)", claim.study_id, describe(exc))
        except Exception as exc:
            # Whatever one claim raises is that claim's failure, never the worker's death.
            log.exception("study %s: the claim failed", claim.study_id)
            error = trial_error(exc)
        finally:
            self.current, self.heartbeat.trial_id = (None, None), None
        if trial.told:  # COMPLETE or PRUNED: the tell finished the slot
            if trial.told[0]:
                self._save_best_model(claim.study_id)
            return
        self.finish_claim(claim, error=error, failed_by_sweep=trial.failed_by_sweep)

    def finish_claim(
        self,
        claim: Claim,
        *,
        error: str | None,
        failed_by_sweep: bool,
        stop: finishing.Stopping | None = None,
    ) -> None:
        """Give the slot back, if the sweep did not meanwhile (counting ``error`` against the
        study with it); save the best model if this finish completed the study. ``stop``: the
        trial it counts, for its study's stop rule (a fused member's, told before)."""
        try:
            swept = timedelta(seconds=self.settings.grace_period) if failed_by_sweep else None
            completed = retry_forever(
                lambda: finishing.finish(
                    claim_id=claim.id,
                    study_id=claim.study_id,
                    seq=claim.seq,
                    error=error,
                    failed_by_sweep=swept,
                    stop=stop,
                ),
                what="finish the trial slot",
                stop=self.stopping,
            )
        except TRANSIENT:
            log.warning("exiting without finishing the slot; the sweep will release it")
            return
        if completed:
            self._save_best_model(claim.study_id)

    def _save_best_model(self, study_id: str) -> None:
        """This finish completed the study (or an idle worker's catch-up found its model
        missing): ``model_save.save_best_model_of``, stopped by a shutdown or its deletion."""
        save_best_model_of(
            study_id,
            worker_id=self.id,
            stopping=self.stopping,
            heartbeat=self.heartbeat,
            unknown=self.unknown,
        )

    def _stop_check(self, claim: Claim) -> Callable[[], None]:
        claimed_at = self._claimed_at

        def stop_check() -> None:
            """Between solver iterations, minibatch steps and epochs: stop if the worker is
            stopping or the study was cancelled since the claim.

            A shutdown is seen within one iteration (admission bounds one at
            ``REGTUNE_MAX_ITERATION_GFLOP``); a cancel arrives on the heartbeat's round trip, so
            a cancelled study's running trials stop within one heartbeat interval more. A stop
            a heartbeat sent before the claim saw is of the study before it was reopened (was:
            remembered for good, so after ``extend`` every trial of the study this worker
            claimed failed at once as "cancelled", and with one worker the study never ended).
            """
            if self.stopping.is_set():
                raise HandBack("the worker is stopping")
            stopped = self.heartbeat.stopped
            if stopped is not None and stopped.applies(claim.study_id, since=claimed_at):
                raise StudyStopped(stopped.status)

        return stop_check

    def _cannot_run(
        self, study: optuna.Study, claim: Claim, exc: BaseException, *, since: float
    ) -> str | None:
        """``trial_run.cannot_run``, with the claim's seconds for its FAIL trial."""
        return cannot_run(study, claim, exc, since=since, claim_seconds=self._claim_seconds)

    def _hand_back(
        self,
        study: optuna.Study,
        claim: Claim,
        number: list[int],
        *,
        reason: str,
        fail_first: bool = False,
        database: bool = False,
        said: str | None = None,
    ) -> str | None:
        """``HandBacks.hand_back``: a trial's, or a fused pass member's."""
        return self.hand_backs.hand_back(
            study,
            claim,
            number,
            reason=reason,
            fail_first=fail_first,
            database=database,
            said=said,
        )


def run_worker(*, max_trials: int | None = None, settle_heap: bool = False) -> int:
    worker = Worker()
    worker.install_signal_handlers()
    return worker.run(max_trials=max_trials, settle_heap=settle_heap)
