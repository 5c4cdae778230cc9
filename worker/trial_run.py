"""One claim's trial: set it up (its study, sampler, pruner and objective), run it under Optuna,
and say what stopped it; a fused pass of several is ``fused.py``'s."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError

from regtune.service import logs
from regtune.service.errors import DefinitionTooNew
from regtune.service.store.backoff import DATABASE_TRANSIENT, caused_by_database, describe
from regtune.service.store.optuna_db.attrs import CLAIM_SECONDS_ATTR
from regtune.service.store.optuna_db.internals.handles import (
    engine_of,
    storage_of,
    study_id_of,
    trial_id_of,
)
from regtune.service.store.optuna_db.internals.worker_cache import WorkerHeartbeats
from regtune.service.store.repos import cancel_and_delete
from regtune.service.store.scheduling.claims import finishing, links
from regtune.service.store.scheduling.claims.slot import Claim
from regtune.worker.failures import known_cause, trial_error
from regtune.worker.outcomes import (
    cut_off_by_an_outage,
    finished_meanwhile,
    handed_back,
    note_error,
    note_stopped,
    optimize_one,
    record_failure,
)
from regtune.worker.stops import DatabaseHandBack, FinishedMeanwhile, HandBack, StudyStopped

if TYPE_CHECKING:
    from regtune.worker.loop import Worker

log = logging.getLogger(__name__)


class TrialRun:
    """``claim``'s one trial, run by ``worker``; what became of the slot is read after ``run``."""

    def __init__(self, worker: Worker, claim: Claim) -> None:
        self.worker = worker
        self.claim = claim
        self.told: list[bool] | None = None
        """``finish``'s answer when the slot was finished with the trial's tell."""
        self.failed_by_sweep = False
        """Set when a sweep failed the running trial as stale (its retry is the sweep's)."""

    def run(self) -> str | None:
        """Run one trial; return an error message if the objective itself failed.

        Stopping, a lost slot and a database error mid-trial (or an objective's error wrapping
        one, in an outage) all hand the trial back (FAIL, with a WAITING copy of its
        parameters); none of them counts against the study's error budget,
        but for a database error its parameters met ``DATABASE_HANDBACKS`` times already. A stop
        or cancel seen while the claim is set up (its data, a path's pass over the folds) starts
        no trial: the slot goes back uncounted.
        """
        from regtune.worker import paths
        from regtune.worker.data import stoppable_setup
        from regtune.worker.policies import make_pruner, make_sampler

        worker, claim = self.worker, self.claim
        if worker.stopping.is_set():
            return None
        if worker.slot_at_risk():
            log.warning(
                "study %s: heartbeat lapsed since the claim; slot given back", claim.study_id
            )
            return None
        try:
            study = worker._load_study(claim.optuna_name)
        except KeyError:
            log.info("study %s was deleted", claim.study_id)
            return None
        started = time.monotonic()
        stop_check = worker._stop_check(claim)
        try:
            spec = worker._definition(claim)
            study.sampler = make_sampler(spec, claim_seq=claim.seq)
            study.pruner = make_pruner(spec)
            with stoppable_setup(stop_check):  # seconds a fold on large data
                objective = paths.build_objective(
                    worker.objective_factory(),
                    spec,
                    stop_check=stop_check,
                    slots=paths.PathSlots(
                        claim, worker.id, wrote=worker.tally.path_written, stop=stop_check
                    ),
                )
            stop_check()  # a stop during the setup starts no trial
        except DefinitionTooNew as exc:  # the study is sound: its slot goes back uncounted
            worker.unknown.add(claim.study_id)
            log.warning("study %s left to newer workers: %s", claim.study_id, exc)
            return None
        except (HandBack, StudyStopped) as exc:
            say_stopped_in_setup(claim.study_id, exc, slots=1)
            return None
        except Exception as exc:
            return cannot_run(study, claim, exc, since=started, claim_seconds=worker._claim_seconds)
        storage = storage_of(study)
        if isinstance(storage, WorkerHeartbeats):
            storage.claimed(study_id_of(study), waiting=claim.waiting)
        number: list[int] = []
        interrupted: list[HandBack] = []
        """What stopped the trial (a stop, a lost slot, a database error): what a FAIL that Optuna
        could not record for an outage hands it back for."""
        raised: list[Exception] = []
        """The objective's own error: Optuna raises it again only once it recorded the FAIL."""

        def tracked(trial: optuna.Trial) -> Any:
            number.append(trial.number)
            worker.tally.trials += 1
            worker.current = (claim.study_id, trial.number)
            # beaten for from now on, whatever comes next
            worker.heartbeat.trial_id = trial_id_of(trial)
            logs.trial_var.set(trial.number)
            log.info("study %s trial %d started", claim.study_id, trial.number)
            try:
                attrs = {CLAIM_SECONDS_ATTR: round(worker._claim_seconds, 6)}
                linked = links.link_trial(storage_of(study), trial_id_of(trial), claim, attrs=attrs)
                if not linked:
                    raise HandBack("the slot was released while the trial started")
                self.told = finishing.finish_when_told(storage_of(study), trial_id_of(trial), claim)
                return objective(trial)
            except DATABASE_TRANSIENT as exc:  # not the built-in timeouts: the objective's own
                interrupted.append(DatabaseHandBack(exc))
                raise interrupted[-1] from exc
            except optuna.TrialPruned:
                raise
            except HandBack as exc:  # why it FAILs: the retry with its parameters follows
                interrupted.append(exc)
                note_error(trial, exc, handed_back(exc))
                raise
            except StudyStopped as exc:
                note_stopped(study, trial, exc)  # why it FAILs (a deleted study takes it along)
                raise
            except UpdateFinishedTrialError:  # a write the FAIL of a sweep refused: none noted
                raise
            except Exception as exc:
                if cut_off_by_an_outage(study, exc, since=started):  # as ``_cannot_run`` judges
                    interrupted.append(DatabaseHandBack(exc))
                    raise interrupted[-1] from exc
                note_error(trial, exc)
                raised.append(exc)
                raise

        try:
            optimize_one(study, tracked, number)
        except HandBack as exc:
            # It reached us through Optuna's tell, so the FAIL is recorded: the retry is ours.
            database = isinstance(exc, DatabaseHandBack)
            return self._hand_back(study, number, reason=str(exc), database=database)
        except StudyStopped:
            log.info("study %s stopped; trial %s ended", claim.study_id, number[:1])
        except FinishedMeanwhile:
            self.failed_by_sweep = True
            finished_meanwhile(study, claim.study_id, number[0])
        except Exception as exc:
            # Optuna's KeyError for a missing record may mean the study is gone; any other (an
            # objective's own) is the trial's error, counted against budget.max_retries
            if isinstance(exc, KeyError) and cancel_and_delete.gone(
                claim.study_id, study_id_of(study), engine_of(study)
            ):
                log.info("study %s was deleted", claim.study_id)
                return None
            if (raised and exc is raised[-1]) or not caused_by_database(
                exc, among=DATABASE_TRANSIENT
            ):  # the objective's error, its FAIL recorded: a database error it wraps outside an
                # outage is its own (one met in an outage was handed back in ``tracked``)
                log.exception("study %s trial %s failed", claim.study_id, number[:1])
                return trial_error(exc)
            # Optuna could not even record the FAIL: the trial is still RUNNING. Fail it and queue
            # its retry once the database is back, before the slot is given back. The trial's
            # reason is the error that stopped it, not the one its FAIL met next.
            cause = interrupted[-1] if interrupted else DatabaseHandBack(exc)
            database = isinstance(cause, DatabaseHandBack)
            met = cause.error if isinstance(cause, DatabaseHandBack) else describe(exc)
            if not number:  # not even asked: nothing to hand back
                log.warning(
                    "study %s: the database failed before the trial started (%s); slot given back",
                    claim.study_id,
                    met,
                )
                return None
            log.warning(
                "study %s trial %d: database error mid-trial (%s); handing it back",
                claim.study_id,
                number[0],
                met,
            )
            return self._hand_back(
                study,
                number,
                reason=str(cause),
                fail_first=True,
                database=database,
                said=met,
            )
        return None

    def _hand_back(
        self,
        study: optuna.Study,
        number: list[int],
        *,
        reason: str,
        fail_first: bool = False,
        database: bool = False,
        said: str | None = None,
    ) -> str | None:
        """The worker's hand-back of this trial, which FAILed: the slot is finished once the
        retry is queued, not by the trial's tell."""
        self.told = None
        return self.worker._hand_back(
            study,
            self.claim,
            number,
            reason=reason,
            fail_first=fail_first,
            database=database,
            said=said,
        )


def cannot_run(
    study: optuna.Study, claim: Claim, exc: BaseException, *, since: float, claim_seconds: float
) -> str | None:
    """A claim whose trial could not be set up (loading its data, building its sampler):
    its study's error, unless the database was found unreachable meanwhile (an uploaded
    dataset is read from it): then the slot goes back uncounted, as a trial cut off by an
    outage is handed back, and the next claim sets it up again."""
    if cut_off_by_an_outage(study, exc, since=since):
        log.warning(
            "study %s: the database failed before the trial started (%s); slot given back",
            claim.study_id,
            describe(exc),
        )
        return None
    error = trial_error(exc)
    number = record_failure(study, error, claim_seconds=claim_seconds)
    trial = "" if number is None else f" trial {number}"
    # the traceback where it tells more than the error: not for a usual cause (out of memory,
    # a file gone), which the error says in words, unless the log is at DEBUG
    traceback = known_cause(exc) is None or log.isEnabledFor(logging.DEBUG)
    with logs.context(study_id=claim.study_id, trial=number):
        log.error(
            "study %s%s cannot run: %s",
            claim.study_id,
            trial,
            error,
            exc_info=exc if traceback else None,
        )
    return error


def say_stopped_in_setup(study_id: str, exc: HandBack | StudyStopped, *, slots: int) -> None:
    """Say that a stop (``HandBack``) or the study's end (``StudyStopped``) seen while a claim
    was set up gave its ``slots`` back uncounted, no trial started: one trial's or a fused
    pass's."""
    given = (
        "slot given back before its trial started"
        if slots == 1
        else f"{slots} slots given back before their trials started"
    )
    if isinstance(exc, StudyStopped):
        log.info("study %s stopped; %s", study_id, given)
    else:
        log.info("study %s: %s; %s", study_id, exc, given)
