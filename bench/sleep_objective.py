"""A synthetic objective that sleeps instead of training: for measuring the service's own cost.

A worker runs it when started with
``REGTUNE_OBJECTIVE_FACTORY=bench.sleep_objective:make_objective`` (the way Ray Tune measures its
overhead with sleeping trainables). Each trial suggests the
definition's search space exactly as a real trial does, then reports ``training.max_epochs`` epochs
spread evenly over ``REGTUNE_SLEEP_TRIAL_SECONDS``, calling ``stop_check`` and ``should_prune``
after every epoch, so the claim protocol, heartbeats, cancellation and pruning all run for real.
The value is a smooth deterministic function of the parameters, so samplers have something to do.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import optuna

from regtune.service.settings import get_settings
from regtune.service.spec.definition import StudySpec
from regtune.service.spec.space import Choices, Range
from regtune.worker.paths import Grid, PathSlots, Point, run_path
from regtune.worker.search import StopCheck, suggest

TARGET = 0.3
"""Where, in each searched parameter's normalized range, the synthetic optimum lies."""


def score(spec: StudySpec, values: dict[str, float]) -> float:
    """Squared distance of the suggested point to ``TARGET`` in the unit cube of the space."""
    total = 0.0
    for name, param in spec.search_space.searched():
        low, high = param.values
        value = values[name]
        if isinstance(param, Range) and param.log:
            low, high, value = math.log(low), math.log(high), math.log(value)
        if isinstance(param, Choices) and low == high:
            continue
        total += ((value - low) / (high - low) - TARGET) ** 2
    return total


def make_objective(
    spec: StudySpec,
    *,
    stop_check: StopCheck,
    trial_seconds: float | None = None,
    slots: PathSlots | None = None,
) -> Callable[[optuna.Trial], float | list[float]]:
    """An objective that sleeps ``trial_seconds`` (default: the setting) over the epochs; with
    ``slots`` and ``training.lambda_path``, over a λ path's points instead, each point its own
    trial (``regtune.worker.paths``: the path protocol runs for real, only the solver sleeps)."""
    seconds = get_settings().sleep_trial_seconds if trial_seconds is None else trial_seconds
    if seconds < 0:
        raise ValueError(f"trial_seconds must be ≥ 0, got {seconds=}")
    epochs = spec.training.max_epochs
    per_epoch = seconds / epochs

    def objective(trial: optuna.Trial) -> float:
        value = score(spec, suggest(trial, spec))
        for epoch in range(1, epochs + 1):
            time.sleep(per_epoch)
            trial.report(value * (1 + (epochs - epoch) / epochs), epoch)
            stop_check()
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch}")
        return value

    if slots is None or spec.training.lambda_path is None:
        return objective

    def solve(values: dict[str, float], grid: Grid) -> list[Point]:
        points, lambdas = [], grid.lambdas()
        for lam in lambdas:
            time.sleep(seconds / len(lambdas))
            stop_check()
            for relax in grid.relax or (None,):  # a relaxed path's values, one point each
                knobs = {**values, "lambda": lam} | ({} if relax is None else {"relax": relax})
                points.append(Point(lam, [score(spec, knobs)], relax=relax))
        return points

    def path_objective(trial: optuna.Trial) -> float | list[float]:
        return run_path(trial, spec, slots=slots, solve=solve, single=objective)

    return path_objective
