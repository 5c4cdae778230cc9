"""The worker: claim a slot, run exactly one Optuna trial, finish the slot; back off when idle."""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from sqlalchemy import select

from service import claims, workers
from service.backoff import TRANSIENT, Backoff, retry_forever
from service.db import transaction
from service.settings import Settings, get_settings
from service.spec import StudySpec
from service.storage import get_storage
from service.sweep import sweep
from service.tables import StudyRow

log = logging.getLogger(__name__)


class StudyStopped(Exception):
    """The study was cancelled or deleted while a trial ran."""


class HandBack(Exception):
    """The worker is shutting down; the trial goes back to the queue with the same parameters."""


class Worker:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.id = workers.new_worker_id()
        self.stopping = threading.Event()
        self.current: tuple[str | None, int | None] = (None, None)
        self._last_sweep = 0.0

    # ------------------------------------------------------------------ lifecycle

    def install_signal_handlers(self) -> None:
        def _stop(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %s: finishing up, handing the current trial back", signum)
            self.stopping.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)

    def run(self, *, max_trials: int | None = None) -> int:
        """Loop until stopped (or ``max_trials`` claims ran); return how many trials ran."""
        import torch

        torch.set_num_threads(self.settings.torch_threads)
        retry_forever(lambda: workers.register(self.id), what="register", stop=self.stopping)
        beats = threading.Thread(target=self._heartbeat, name="regtune-heartbeat", daemon=True)
        beats.start()
        idle = Backoff(self.settings.poll_min, self.settings.poll_max)
        ran = 0
        try:
            while not self.stopping.is_set() and (max_trials is None or ran < max_trials):
                try:
                    claim = claims.claim(worker_id=self.id)
                except TRANSIENT as exc:
                    log.warning("database unavailable (%s); backing off", type(exc).__name__)
                    self.stopping.wait(idle.next())
                    continue
                if claim is None:
                    self._maybe_sweep()
                    self.stopping.wait(idle.next())
                    continue
                idle.reset()
                self._run_claim(claim)
                ran += 1
        finally:
            self.stopping.set()
            try:
                workers.unregister(self.id)
            except TRANSIENT:
                log.warning("could not unregister; the sweep will remove this worker")
        return ran

    def _heartbeat(self) -> None:
        while not self.stopping.wait(self.settings.heartbeat_interval):
            study_id, number = self.current
            try:
                workers.beat(self.id, study_id=study_id, trial_number=number)
            except Exception as exc:
                log.warning("heartbeat failed (%s)", type(exc).__name__)

    def _maybe_sweep(self) -> None:
        if time.monotonic() - self._last_sweep < self.settings.sweep_interval:
            return
        self._last_sweep = time.monotonic()
        try:
            sweep()
        except Exception as exc:
            log.warning("sweep failed (%s)", type(exc).__name__)

    # ------------------------------------------------------------------ one trial

    def _study_status(self, study_id: str) -> str | None:
        with transaction() as session:
            return session.scalar(select(StudyRow.status).where(StudyRow.id == study_id))

    def _run_claim(self, claim: claims.Claim) -> None:
        error: str | None = None
        try:
            error = self._run_trial(claim)
        finally:
            self.current = (None, None)
            retry_forever(
                lambda: claims.finish(claim_id=claim.id, study_id=claim.study_id, error=error),
                what="finish the trial slot",
            )

    def _run_trial(self, claim: claims.Claim) -> str | None:
        """Run one trial; return an error message if the objective itself failed."""
        from worker.objective import make_objective
        from worker.policies import make_pruner, make_sampler

        with transaction() as session:
            row = session.get(StudyRow, claim.study_id)
        if row is None:
            return None
        spec = StudySpec.model_validate(row.spec)
        study = optuna.load_study(
            study_name=row.optuna_name,
            storage=get_storage(),
            sampler=make_sampler(spec, claim_seq=claim.seq),
            pruner=make_pruner(spec),
        )
        number: list[int] = []

        def stop_check() -> None:
            if self.stopping.is_set():
                raise HandBack()
            if self._study_status(claim.study_id) in (None, "cancelled"):
                raise StudyStopped()

        try:
            objective = make_objective(spec, stop_check=stop_check)
        except Exception as exc:
            log.exception("study %s cannot run", claim.study_id)
            return f"{type(exc).__name__}: {exc}"

        def tracked(trial: optuna.Trial) -> float:
            number.append(trial.number)
            self.current = (claim.study_id, trial.number)
            log.info("study %s trial %d started", claim.study_id, trial.number)
            return objective(trial)

        try:
            study.optimize(tracked, n_trials=1, gc_after_trial=False)
        except HandBack:
            if number:
                trial = study._storage.get_trial(
                    study._storage.get_trial_id_from_study_id_trial_number(
                        study._study_id, number[0]
                    )
                )
                RetryHeartbeatStaleTrialCallback(max_retry=None)(study, trial)
                log.info("study %s trial %d handed back", claim.study_id, number[0])
        except StudyStopped:
            log.info("study %s stopped; trial %s ended", claim.study_id, number[:1])
        except TRANSIENT as exc:
            log.warning(
                "database error during a trial (%s); its heartbeat will lapse", type(exc).__name__
            )
        except KeyError:
            log.info("study %s was deleted", claim.study_id)
        except Exception as exc:
            log.exception("study %s trial %s failed", claim.study_id, number[:1])
            return f"{type(exc).__name__}: {exc}"
        return None


def run_worker(*, max_trials: int | None = None) -> int:
    worker = Worker()
    worker.install_signal_handlers()
    return worker.run(max_trials=max_trials)
