"""Objective factories for protocol tests, loaded by workers through REGTUNE_OBJECTIVE_FACTORY.

They stand in for a trainer that raises, the one thing a real definition should never make it do,
so that the worker's handling of it can be shown end to end.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import optuna

from regtune.service.spec.definition import StudySpec
from regtune.worker.search import StopCheck, suggest


def make_failing_objective(
    spec: StudySpec, *, stop_check: StopCheck
) -> Callable[[optuna.Trial], float]:
    """Raises while building the objective for studies named ``unbuildable*``, else in the trial."""
    if spec.name.startswith("unbuildable"):
        raise RuntimeError("the model cannot be built for this definition")

    def objective(trial: optuna.Trial) -> float:
        suggest(trial, spec)
        stop_check()
        raise FloatingPointError("the trainer diverged")

    return objective


Objective = Callable[[optuna.Trial], float | list[float]]


def _diverging_at(number: int, spec: StudySpec, others: Objective) -> Objective:
    """``others``, except that trial ``number`` raises as a trainer that diverged does."""

    def objective(trial: optuna.Trial) -> float | list[float]:
        if trial.number == number:
            suggest(trial, spec)
            raise FloatingPointError("the trainer diverged")
        return others(trial)

    return objective


def fail_the_first_trial(spec: StudySpec, *, stop_check: StopCheck) -> Objective:
    """The study's real objective, except that its first trial (number 0) raises as a trainer
    that diverged does: that trial FAILs (an error counted against ``budget.max_retries``; its
    parameters do not run again: the next trial's are new), and the study completes."""
    from regtune.worker.objective import make_objective

    return _diverging_at(0, spec, make_objective(spec, stop_check=stop_check))


def fail_the_first_trial_then_sleep(spec: StudySpec, *, stop_check: StopCheck) -> Objective:
    """Trial 0 raises as a trainer that diverged does (a failure of its own: its parameters do
    not run again); the others are the sleep objective's (``REGTUNE_SLEEP_TRIAL_SECONDS`` over
    their epochs, a stop seen after each), so a test can stop or kill their worker mid-trial."""
    from bench.sleep_objective import make_objective

    return _diverging_at(0, spec, make_objective(spec, stop_check=stop_check))


def fail_the_second_trial_while_the_first_sleeps(
    spec: StudySpec, *, stop_check: StopCheck
) -> Objective:
    """Trial 1 raises as a trainer that diverged does (a failure of its own); the others are the
    sleep objective's (``REGTUNE_SLEEP_TRIAL_SECONDS`` over their epochs, a stop seen after
    each), so trial 0 is still running when trial 1's error fails a study of
    ``budget.max_retries: 0``."""
    from bench.sleep_objective import make_objective

    return _diverging_at(1, spec, make_objective(spec, stop_check=stop_check))


def deaf_to_stops(spec: StudySpec, *, stop_check: StopCheck) -> Callable[[optuna.Trial], float]:
    """Every trial sleeps 10 minutes without looking at ``stop_check``: a step that cannot be
    interrupted, which ``regtune serve`` must kill on shutdown."""

    def objective(trial: optuna.Trial) -> float:
        suggest(trial, spec)
        time.sleep(600)
        return 0.0

    return objective


def wait_for_a_stop(spec: StudySpec, *, stop_check: StopCheck) -> Callable[[optuna.Trial], float]:
    """Every trial waits for a stop, looking at ``stop_check`` every 10 ms and touching no
    database meanwhile (no reports): a stop, not the database's absence, is what ends it."""

    def objective(trial: optuna.Trial) -> float:
        suggest(trial, spec)
        while True:
            stop_check()
            time.sleep(0.01)

    return objective


def wait_for_a_stop_in_the_first_trial(
    spec: StudySpec, *, stop_check: StopCheck
) -> Callable[[optuna.Trial], float]:
    """Trial 0 waits for a stop (``wait_for_a_stop``'s); every other trial looks at
    ``stop_check`` once and scores its λ at once, so a test can cancel a study mid-trial and
    then see what the trials after an ``extend`` do."""
    waiting = wait_for_a_stop(spec, stop_check=stop_check)

    def objective(trial: optuna.Trial) -> float:
        if trial.number == 0:
            return waiting(trial)
        values = suggest(trial, spec)
        stop_check()
        return float(np.log10(values["lambda"]) ** 2)

    return objective


FEATURES_LOST = threading.Event()
"""Set by ``read_features_through_an_outage`` once its read failed: the test's cue to bring the
database back."""


def read_features_through_an_outage(
    spec: StudySpec, *, stop_check: StopCheck
) -> Callable[[optuna.Trial], float]:
    """Every trial reads the database (standing in for a feature store on the same server) until
    a read fails, waits for it to answer again, then raises that failure in its own words: an
    error whose cause is a database error, raised once the database is back."""
    from sqlalchemy import text

    from regtune.service.store.db import get_engine

    def read() -> None:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))

    def objective(trial: optuna.Trial) -> float:
        from sqlalchemy.exc import OperationalError

        suggest(trial, spec)
        while True:
            stop_check()
            try:
                read()
            except OperationalError as exc:
                lost = exc
                break
            time.sleep(0.01)
        FEATURES_LOST.set()
        while True:
            stop_check()
            try:
                read()
            except OperationalError:
                time.sleep(0.05)
                continue
            raise RuntimeError("the feature store could not be read") from lost

    return objective


def kill_the_worker(spec: StudySpec, *, stop_check: StopCheck) -> Callable[[optuna.Trial], float]:
    """Every trial SIGKILLs its worker once started, as the kernel's OOM killer would."""

    def objective(trial: optuna.Trial) -> float:
        suggest(trial, spec)
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")

    return objective


WORKDIR = Path("/nonexistent")
"""Set by the test: where the objectives' data and checkpoints are."""


def _file_gone() -> None:
    np.loadtxt(WORKDIR / "srv-data" / "rows.csv", delimiter=",")  # removed under the worker


def _diverges() -> None:
    from sklearn.metrics import mean_squared_error

    w, x, y = np.zeros(1), np.arange(1.0, 9.0), np.arange(2.0, 18.0, 2.0)
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(200):  # a learning rate far too large: w overflows to inf, then NaN
            w = w - 1e12 * np.mean((w * x - y) * x)
    mean_squared_error(y, w * x)


def _read_only_artifacts() -> None:
    np.save(WORKDIR / "srv-artifacts" / "checkpoint.npy", np.zeros(3))


def _shape_mismatch() -> None:
    import torch

    torch.nn.Linear(10, 1)(torch.ones(32, 12))  # the data has 12 columns, the model 10


def _one_column() -> None:
    from sklearn.preprocessing import StandardScaler

    StandardScaler().fit(np.arange(5.0))  # a page of advice over several lines


def _out_of_memory() -> None:
    np.ones((1 << 22, 1 << 22))  # 128 TiB


def _timed_out() -> None:
    raise TimeoutError("the feature store did not answer in 30 s")  # the objective's own call


def _connection_reset() -> None:
    raise ConnectionResetError("[Errno 104] Connection reset by peer")


def _wrapped_database() -> None:
    """The objective's own database (a feature store) failed, and the objective said so in its
    words: an error of the trial, not of regtune's database."""
    from sqlalchemy.exc import OperationalError

    try:
        raise OperationalError("SELECT features", {}, Exception("server closed the connection"))
    except OperationalError as exc:
        raise RuntimeError("the feature store could not be read") from exc


FAILURES: dict[str, Callable[[], None]] = {
    "file-gone": _file_gone,
    "diverges": _diverges,
    "read-only-artifacts": _read_only_artifacts,
    "shape-mismatch": _shape_mismatch,
    "one-column": _one_column,
    "out-of-memory": _out_of_memory,
    "timed-out": _timed_out,
    "connection-reset": _connection_reset,
    "wrapped-database": _wrapped_database,
}


def fail_as_training_does(
    spec: StudySpec, *, stop_check: StopCheck
) -> Callable[[optuna.Trial], float]:
    """Fails in the trial as training fails for real, the way the study's name says, reading and
    writing under ``WORKDIR`` (the server's own paths)."""
    fail = FAILURES[spec.name]

    def objective(trial: optuna.Trial) -> float:
        suggest(trial, spec)
        stop_check()
        fail()
        return 0.0

    return objective
