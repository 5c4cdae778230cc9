"""Objectives for tests that need a trial to do what a bad definition does to a real worker.

A worker runs them with ``REGTUNE_OBJECTIVE_FACTORY=tests.e2e.objectives:<name>``.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import optuna

from service.spec.definition import StudySpec
from worker.objective import StopCheck, suggest


def kill_the_worker(spec: StudySpec, *, stop_check: StopCheck) -> Callable[[optuna.Trial], float]:
    """Every trial SIGKILLs its worker once started, as the kernel's OOM killer would."""

    def objective(trial: optuna.Trial) -> float:
        suggest(trial, spec)
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")

    return objective
