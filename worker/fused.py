"""Fused trials: a worker takes up to K slots of an MLP study, asks K trials and trains the members
that share a structure in one pass (``regtune.worker.trainers.fused``).

Each member is an ordinary Optuna trial under its own claim: asked with its claim's sampler seed,
it reports every epoch, is pruned, stopped, recorded and told on its own, and its slot is given
back the moment it ends. A worker stopping, a cancel or a database outage ends the members still
training (and one whose tell the outage cut off) as it ends one trial (handed back, or failed),
and each member's Optuna heartbeat is recorded, so a killed worker's members are failed and
retried one by one by the sweep. A stop or cancel seen while the pass is set up (its data read
and split) starts no member: its slots go back uncounted, as a single trial's.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import optuna
from optuna.trial import TrialState

from regtune.service import logs
from regtune.service.spec.cost import Budget, DataShape, fused_asked, fused_width
from regtune.service.spec.definition import StudySpec
from regtune.service.spec.objective import objective_names
from regtune.service.store.backoff import (
    DATABASE_TRANSIENT,
    TRANSIENT,
    caused_by_database,
    describe,
)
from regtune.service.store.optuna_db.attrs import CLAIM_SECONDS_ATTR
from regtune.service.store.optuna_db.internals.batched import note_report, write_reports
from regtune.service.store.optuna_db.internals.handles import storage_of, study_id_of, trial_id_of
from regtune.service.store.optuna_db.internals.trial_lines import log_failed, log_told
from regtune.service.store.optuna_db.internals.worker_cache import WorkerHeartbeats
from regtune.service.store.scheduling.claims import finishing, links, stopping, taking
from regtune.service.store.scheduling.claims.slot import Claim
from regtune.service.store.scheduling.retries import get_storage
from regtune.worker.failures import trial_error
from regtune.worker.loop import Worker
from regtune.worker.outcomes import (
    ended_meanwhile,
    finished_meanwhile,
    handed_back,
    note_error,
    note_stopped,
)
from regtune.worker.search import StopCheck, suggest
from regtune.worker.stops import DatabaseHandBack, HandBack, StudyStopped
from regtune.worker.trial_run import say_stopped_in_setup

if TYPE_CHECKING:
    from regtune.worker.data import Splits
    from regtune.worker.trainers.config import TrainConfig
    from regtune.worker.trainers.result import TrainResult

log = logging.getLogger(__name__)


@dataclass
class _Member:
    claim: Claim
    trial: optuna.Trial
    ended: bool = False
    """Done training: stopped, told or failed."""
    settled: bool = False
    """Its end recorded (told, or handed back): until then its heartbeat goes on, so a trial
    whose FAIL waits for the database to come back is not taken for a dead worker's."""


@dataclass
class _Run:
    worker: Worker
    study: optuna.Study
    spec: StudySpec
    members: list[_Member] = field(default_factory=list)
    traced: list[BaseException] = field(default_factory=list)
    """The errors a member's line showed the traceback of (kept, so no other error takes one's
    identity): a pass's error ends its other members too, and their lines name it without the
    traceback again."""

    def live(self) -> list[_Member]:
        return [m for m in self.members if not m.ended]


def run_fused(worker: Worker, claim: Claim, *, limit: int | None = None) -> int | None:
    """Run ``claim``'s study fused if it fuses (→ how many of its trials started, ``limit`` at
    most: 0 if the pass gave its slots back before any did); None: it does not, run it one
    trial at a time."""
    try:
        spec = worker._definition(claim)
    except Exception:
        return None  # the ordinary path records why the definition cannot run
    # under refit: false with dropout or input noise too: the saved model, a member retrained
    # as a fused pass of one, draws its masks and noise as it did in its pass
    wanted = fused_asked(spec, worker.settings)
    if limit is not None:
        wanted = min(wanted, limit)
    if wanted < 2:
        return None
    taken = [claim]
    asked = time.perf_counter()
    try:
        taken += taking.claim_slots(
            worker_id=worker.id,
            slots=wanted - 1,
            study_id=claim.study_id,
            tenant_max_running=worker.settings.tenant_max_running,
        )
    except TRANSIENT as exc:
        log.warning("study %s: no more slots (%s)", claim.study_id, describe(exc))
    # the pass's further slots are part of its one claim: the claim took both transactions
    worker._claim_seconds += time.perf_counter() - asked
    try:
        return _run(worker, spec, taken)
    finally:
        worker.current = (None, None)


def _run(worker: Worker, spec: StudySpec, taken: list[Claim]) -> int:
    """Set the pass up (its data read and split: seconds a fold on large data), then start and
    train its members (→ how many started); a stop or cancel seen during the setup starts none
    of them."""
    from regtune.worker.data import stoppable_setup
    from regtune.worker.objective import n_outputs, prepare, set_threads

    first = taken[0]
    if worker.stopping.is_set() or worker.slot_at_risk():
        _release(worker, taken, why="the worker is stopping or its heartbeat lapsed")
        return 0
    try:
        study = worker._load_study(first.optuna_name)
    except KeyError:
        _release(worker, taken, why="the study was deleted")
        return 0
    except TRANSIENT as exc:
        _release(worker, taken, why=f"database error: {describe(exc)}")
        return 0
    started = time.monotonic()
    stop_check = worker._stop_check(first)
    try:
        set_threads()
        with stoppable_setup(stop_check):  # seconds a fold on large data
            splits = prepare(spec)
        rows = sum(len(x) for x in (splits.folds[0].X_train, splits.folds[0].X_val))
        shape = DataShape(rows + len(splits.folds[0].X_test), splits.n_features, splits.n_classes)
        fits = fused_width(spec, shape, Budget.from_settings(worker.settings), asked=len(taken))
        stop_check()  # a stop during the setup starts no trial
    except (HandBack, StudyStopped) as exc:
        _release(worker, taken, why=exc)
        return 0
    except Exception as exc:
        error = worker._cannot_run(study, first, exc, since=started)
        for c in taken:
            worker.finish_claim(c, error=error if c is first else None, failed_by_sweep=False)
        return int(error is not None)  # the failed trial its error is recorded on, as one claim's
    if fits < len(taken):
        _release(worker, taken[fits:], why=f"{fits} fused trials fit REGTUNE_MAX_TRIAL_MEMORY_MB")
        taken = taken[:fits]
    run = _Run(worker, study, spec)
    with _heartbeats(run):  # from the first member's start: asking 16 trials takes a while
        try:
            configs = _start(run, taken, n_out=n_outputs(splits))
        except Exception as exc:
            _abandon(run, taken, exc)
            return len(run.members)
        _train(run, configs, splits)
    return len(run.members)


def _start(run: _Run, taken: list[Claim], *, n_out: int) -> list[TrainConfig]:
    """Ask one trial per claim (each with its claim's sampler seed), link it to its claim and
    suggest its knobs; → the live members' training configs, in order."""
    from regtune.worker.objective import train_config
    from regtune.worker.policies import make_pruner, make_sampler

    study, spec, worker = run.study, run.spec, run.worker
    study.pruner = make_pruner(spec)
    storage = storage_of(study)
    if isinstance(storage, WorkerHeartbeats):  # look for retries queued before these claims
        storage.claimed(study_id_of(study), waiting=any(c.waiting for c in taken))
    configs: list[TrainConfig] = []
    for c in taken:
        study.sampler = make_sampler(spec, claim_seq=c.seq)
        with warnings.catch_warnings():  # "heartbeat … used with Study.optimize": ours beats
            warnings.simplefilter("ignore", UserWarning)
            trial = study.ask()
        member = _Member(c, trial)
        run.members.append(member)
        worker.tally.trials += 1
        trial_id = trial_id_of(trial)
        # the pass is one claim: its latency is recorded once, on its first trial
        first = {CLAIM_SECONDS_ATTR: round(worker._claim_seconds, 6)} if c is taken[0] else None
        if not links.link_trial(storage, trial_id, c, attrs=first):
            _end(run, member, HandBack("the slot was released while the trial started"))
            continue
        with logs.context(study_id=c.study_id, trial=trial.number):
            log.info("study %s trial %d started (fused)", c.study_id, trial.number)
        configs.append(train_config(spec, suggest(trial, spec), n_out=n_out))
    return configs


def _abandon(run: _Run, taken: list[Claim], exc: Exception) -> None:
    """Starting the members failed: end the ones asked, give back the slots of the others."""
    database = caused_by_database(exc, among=DATABASE_TRANSIENT)
    if not database:
        log.exception("study %s: fused trials could not start", taken[0].study_id)
    for m in run.live():
        _end(run, m, DatabaseHandBack(exc) if database else exc)
    asked = {m.claim.id for m in run.members}
    _release(run.worker, [c for c in taken if c.id not in asked], why="the run could not start")


def _train(run: _Run, configs: list[TrainConfig], splits: Splits) -> None:
    from regtune.worker.trainers.fused import groups

    live = run.live()
    if live:
        run.worker.current = (live[0].claim.study_id, live[0].trial.number)
    names = objective_names(run.spec)
    for group in groups(configs):
        members = [live[i] for i in group]
        _train_group(run, members, [configs[i] for i in group], splits, names)


def _train_group(
    run: _Run, members: list[_Member], configs: list[TrainConfig], splits: Splits, names: list[str]
) -> None:
    from regtune.worker.objective import outcome
    from regtune.worker.trainers.fused import train_fused

    stop_check = run.worker._stop_check(members[0].claim)
    multi = len(names) > 1
    reports = _Reports()

    def on_epoch(k: int, epoch: int, metrics: dict[str, float]) -> bool:
        if multi:  # Optuna neither records nor prunes multi-objective learning curves
            stop_check()
            return False
        return reports.add(members[k].trial, epoch, metrics[configs[k].metric], stop_check)

    def on_done(k: int, result: TrainResult) -> None:
        member = members[k]
        reports.flush()  # a pruned trial's value is its last report
        try:
            values = outcome(member.trial, run.spec, result, names)
        except optuna.TrialPruned as pruned:
            _tell(run, member, state=TrialState.PRUNED, pruned=str(pruned))
            return
        _tell(run, member, values=values)

    try:
        train_fused(configs, splits.folds, on_epoch, on_done, stop=stop_check)
        reports.flush()
    except Exception as exc:
        database = caused_by_database(exc, among=DATABASE_TRANSIENT)
        if database:
            log.warning("study %s: database error mid-trial (%s)", run.spec.name, describe(exc))
            exc = DatabaseHandBack(exc)
        elif not isinstance(exc, HandBack | StudyStopped):
            exc = _swept(run, members, exc)
        for m in members:
            if not m.ended:
                _end(run, m, exc)


def _swept(run: _Run, members: list[_Member], exc: Exception) -> Exception:
    """Why the pass's members still training end, for an error no stop or outage explains: the
    error, their own; or, when a sweep failed any of them meanwhile (the worker was silent past
    its grace period, and a write of that member was refused), a hand-back of the others, their
    parameters run again uncounted (was: the refused write counted against the study as each
    member's error)."""
    swept = [m for m in members if not m.ended and ended_meanwhile(run.study, m.trial.number)]
    if not swept:
        log.exception("study %s: fused trials failed", members[0].claim.study_id)
        return exc
    trials = ("trial " if len(swept) == 1 else "trials ") + ", ".join(
        str(m.trial.number) for m in swept
    )
    log.warning(
        "study %s: a sweep failed %s of a fused pass meanwhile (heartbeat lapsed); the pass "
        "ends (%s)",
        members[0].claim.study_id,
        trials,
        describe(exc),
    )
    return HandBack(f"a sweep failed {trials} of its fused pass (heartbeat lapsed)")


class _Reports:
    """The members' reports of an epoch, written in one transaction (``write_reports``) once the
    next epoch begins or a member ends; each trial's pruner sees its own report at once."""

    def __init__(self) -> None:
        self.pending: list[tuple[optuna.Trial, int, float]] = []

    def add(self, trial: optuna.Trial, epoch: int, value: float, stop_check: StopCheck) -> bool:
        if self.pending and self.pending[-1][1] != epoch:
            self.flush()
        if note_report(trial, epoch, value):
            self.pending.append((trial, epoch, value))
        stop_check()
        return trial.should_prune()

    def flush(self) -> None:
        pending, self.pending = self.pending, []
        write_reports(pending)


def _tell(
    run: _Run,
    member: _Member,
    *,
    values: float | list[float] | None = None,
    state: TrialState | None = None,
    pruned: str = "",
) -> None:
    """Finish the member's trial as ``optimize`` would, its slot given back in the transaction
    that tells it COMPLETE or PRUNED (``finish_when_told``, as a single trial's), so the count
    and the stop rule's columns move with the told trial (was: a second transaction, and a
    worker that died between the two left the trial to the sweep, uncounted by the rule); its
    end logged as ``optimize`` logs a single trial's (``pruned``: why it was).

    A tell that did not commit (a database outage) leaves the member to end with the pass's
    other members (``_train_group``): handed back uncounted once the database answers (was:
    marked ended before the tell, so the pass's error skipped it, and the trial stayed RUNNING
    with its slot held until the sweep failed it as a dead worker's, counted)."""
    swept = False
    told = finishing.finish_when_told(
        storage_of(run.study), trial_id_of(member.trial), member.claim
    )
    with logs.context(study_id=member.claim.study_id, trial=member.trial.number):
        try:
            ended = run.study.tell(member.trial, values, state=state)
        except Exception:
            if not ended_meanwhile(run.study, member.trial.number):
                raise  # RUNNING as stored, or unread in the outage: the pass's error ends it
            # a sweep failed it as stale meanwhile (and queued its retry, if any)
            member.ended = swept = True
            finished_meanwhile(run.study, member.claim.study_id, member.trial.number)
        else:
            member.ended = True
            log_told(run.study, ended, pruned=pruned)  # ``tell`` logs nothing, ``optimize`` does
    member.settled = True
    if told:  # the tell finished the slot
        if told[0]:
            run.worker._save_best_model(member.claim.study_id)
        return
    stop = None if swept else _stopping(member, values=values, state=state)
    run.worker.finish_claim(member.claim, error=None, failed_by_sweep=swept, stop=stop)


def _stopping(
    member: _Member, *, values: float | list[float] | None, state: TrialState | None
) -> finishing.Stopping | None:
    """What the member's finish moves of its study's stop rule (``budget.stop``), if it has
    one: its trial was told in a transaction of its own, so its finish counts it."""
    rule = stopping.Rule.of(member.claim.definition)
    if rule is None:
        return None
    told = [values] if isinstance(values, float | int) else values
    finished = stopping.Finished.of(
        state or TrialState.COMPLETE, told, member.trial.number, member.trial.user_attrs
    )
    return finishing.Stopping(rule, finished)


def _end(run: _Run, member: _Member, exc: BaseException) -> None:
    """End a member that did not finish training, as ``Worker`` ends one trial: handed back (a
    stop, a lost slot, a database error), ended with its study (cancelled), or failed with its
    error (counted against the study's ``max_retries``). Every line logged meanwhile (a retry
    while the database is away) names the member's study and trial."""
    with logs.context(study_id=member.claim.study_id, trial=member.trial.number):
        try:
            _end_member(run, member, exc)
        finally:
            member.settled = True


def _end_member(run: _Run, member: _Member, exc: BaseException) -> None:
    member.ended = True
    worker, c, number = run.worker, member.claim, member.trial.number
    traced = any(exc is shown for shown in run.traced)
    log_failed(member.trial, exc, traceback=not traced)  # as optimize logs one
    if not traced:
        run.traced.append(exc)
    error: str | None = None
    if isinstance(exc, HandBack):  # why it FAILs, as ``Worker`` notes one trial's
        note_error(member.trial, exc, handed_back(exc))
    elif isinstance(exc, StudyStopped):
        note_stopped(run.study, member.trial, exc)
    else:
        note_error(member.trial, exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
        error = trial_error(exc)
    fail_first = False
    try:
        run.study.tell(member.trial, state=TrialState.FAIL)
    except Exception as tell_exc:
        if ended_meanwhile(run.study, number):  # a sweep failed it (its retry is the sweep's)
            finished_meanwhile(run.study, c.study_id, number)
            worker.finish_claim(c, error=None, failed_by_sweep=True)
            return
        if not (isinstance(exc, HandBack) and caused_by_database(tell_exc)):
            # it goes stale: the sweep fails it (a cancelled study's, or its own error's, alike)
            log.warning(
                "study %s trial %d: could not fail it (%s); the sweep fails it once its heartbeat "
                "lapses, and retries it",
                c.study_id,
                number,
                describe(tell_exc),
            )
            worker.finish_claim(c, error=error, failed_by_sweep=False)
            return
        fail_first = True  # still RUNNING: fail and hand it back once the database is back
    if isinstance(exc, HandBack):
        said = exc.error if isinstance(exc, DatabaseHandBack) else None  # warned of once, above
        error = worker._hand_back(
            run.study,
            c,
            [number],
            reason=str(exc),
            fail_first=fail_first,
            database=said is not None,
            said=said,
        )
    elif isinstance(exc, StudyStopped):
        log.info("study %s stopped; trial %d ended", c.study_id, number)
    worker.finish_claim(c, error=error, failed_by_sweep=False)


def _release(worker: Worker, taken: list[Claim], *, why: str | HandBack | StudyStopped) -> None:
    """Give back slots no trial started under (not an error: the next claim takes them); ``why``:
    a stop or the study's end seen while the pass was set up, said as a single trial's setup
    says it, or what else left them unused."""
    if not taken:
        return
    if isinstance(why, str):
        log.info("study %s: %d slot(s) given back unused (%s)", taken[0].study_id, len(taken), why)
    else:
        say_stopped_in_setup(taken[0].study_id, why, slots=len(taken))
    for c in taken:
        worker.finish_claim(c, error=None, failed_by_sweep=False)


@contextmanager
def _heartbeats(run: _Run) -> Iterator[None]:
    """Record the Optuna heartbeat of every member whose end is not recorded yet (still
    training, or its FAIL waiting for the database), as ``optimize`` records its one trial's: a
    killed worker's members go stale and the sweep retries each of them."""
    storage = get_storage()  # the one the study was loaded with (``Worker.load_study``)
    done = threading.Event()
    interval = run.worker.settings.heartbeat_interval

    def beat() -> None:
        while not done.wait(interval):
            for m in [m for m in run.members if not m.settled]:
                try:
                    storage.record_heartbeat(trial_id_of(m.trial))
                except Exception as exc:  # the next beat tries again
                    log.warning("trial heartbeat missed (%s)", describe(exc))

    thread = threading.Thread(target=beat, name="regtune-fused-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
