"""Objective factories for protocol tests, loaded by workers through REGTUNE_OBJECTIVE_FACTORY.

They stand in for a trainer that raises, the one thing a real definition should never make it do,
so that the worker's handling of it can be shown end to end.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

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


def deaf_to_stops(spec: StudySpec, *, stop_check: StopCheck) -> Callable[[optuna.Trial], float]:
    """Every trial sleeps 10 minutes without looking at ``stop_check``: a step that cannot be
    interrupted, which ``regtune serve`` must kill on shutdown."""

    def objective(trial: optuna.Trial) -> float:
        suggest(trial, spec)
        time.sleep(600)
        return 0.0

    return objective


def kill_the_worker(spec: StudySpec, *, stop_check: StopCheck) -> Callable[[optuna.Trial], float]:
    """Every trial SIGKILLs its worker once started, as the kernel's OOM killer would."""

    def objective(trial: optuna.Trial) -> float:
        suggest(trial, spec)
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")

    return objective
