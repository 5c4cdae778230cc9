"""Saving an ended study's best model from the worker: the retraining's stop rule (a shutdown,
the study deleted) and the one line each way it can end is logged as."""

from __future__ import annotations

import logging
import threading
import time

from regtune.service import logs
from regtune.service.errors import DefinitionTooNew
from regtune.service.store.backoff import DATABASE_TRANSIENT, describe
from regtune.worker.heartbeat import Heartbeat

log = logging.getLogger(__name__)


def save_best_model_of(
    study_id: str,
    *,
    worker_id: str,
    stopping: threading.Event,
    heartbeat: Heartbeat,
    unknown: set[str],
) -> None:
    """Retrain the best trial of ``study_id``, which ended, and store the model.

    A shutdown (``stopping``) stops the retraining within one solver iteration or minibatch
    step, as it stops a trial; the study then waits for another worker's catch-up. The study's
    deletion, seen by the ``heartbeat`` (which reads the status of the study being saved), and
    a lease another worker took over stop it too (``best_model.RefitStopped``). A study a newer
    regtune wrote joins ``unknown``: its catch-up is a newer worker's."""
    from regtune.worker.best_model import DELETED, RefitStopped, save_best_model

    started = time.monotonic()

    def stop() -> None:
        if stopping.is_set():
            raise RefitStopped("best model left to another worker (stopping)")
        stopped = heartbeat.stopped
        if (
            stopped is not None
            and stopped.status is None
            and stopped.applies(study_id, since=started)
        ):
            raise RefitStopped(DELETED)

    # the heartbeat shows the study and no trial meanwhile (GET /v1/workers): a fused
    # pass's member that finished it was listed as running for as long as the refit took
    heartbeat.current = (study_id, None)
    with logs.context(study_id=study_id):  # not the last trial's id: a retrain
        try:
            save_best_model(study_id, stop=stop, worker_id=worker_id)
        except RefitStopped as exc:
            log.info("study %s: %s", study_id, exc)
        except DefinitionTooNew as exc:  # its catch-up is a newer worker's
            unknown.add(study_id)
            log.warning("study %s left to newer workers: %s", study_id, exc)
        except DATABASE_TRANSIENT as exc:  # an outage: an idle worker's catch-up saves it later
            log.warning(
                "study %s: best model not saved, the database failed (%s); an idle "
                "worker's catch-up saves it",
                study_id,
                describe(exc),
            )
        except Exception:
            log.exception("study %s: could not save the best model", study_id)
        finally:
            heartbeat.current = (None, None)
