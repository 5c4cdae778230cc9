"""What a trial asks of the sampler, and how the loop finds the objective: light on imports.

The loop and the sleep objective of the protocol tests and benchmarks use this module without
loading torch, scikit-learn or the data; the default objective (``regtune.worker.objective``) loads
them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna

from regtune.service.spec.definition import StudySpec
from regtune.service.spec.space import KNOBS, Choices, Fixed, Range

StopCheck = Callable[[], None]
"""Called every epoch; raises to stop the trial (study cancelled, worker shutting down)."""
ObjectiveFactory = Callable[..., Callable[[optuna.Trial], Any]]
"""``factory(spec, *, stop_check)`` → an Optuna objective; ``make_objective`` is the default."""


def suggest(trial: optuna.Trial, spec: StudySpec) -> dict[str, float]:
    values: dict[str, float] = {}
    for name, param in spec.search_space.items():
        if isinstance(param, Fixed):
            values[name] = param.value
        elif isinstance(param, Choices) and KNOBS[name].boolean:
            flags = [bool(c) for c in param.choices]
            values[name] = float(trial.suggest_categorical(name, flags))
        elif isinstance(param, Choices):
            values[name] = float(trial.suggest_categorical(name, param.choices))
        elif isinstance(param, Range) and KNOBS[name].integer:
            values[name] = trial.suggest_int(
                name, int(param.low), int(param.high), step=int(param.step or 1), log=param.log
            )
        else:
            assert isinstance(param, Range)
            values[name] = trial.suggest_float(
                name, param.low, param.high, log=param.log, step=param.step
            )
    return values


def stored_values(spec: StudySpec, params: dict[str, Any]) -> dict[str, float]:
    """The values ``suggest`` gave a finished trial, rebuilt from its stored params."""
    return {
        name: param.value if isinstance(param, Fixed) else float(params[name])
        for name, param in spec.search_space.items()
    }


def load_factory(path: str) -> ObjectiveFactory:
    """The objective factory named ``module:function`` (setting ``REGTUNE_OBJECTIVE_FACTORY``)."""
    import importlib

    module_name, _, attr = path.partition(":")
    factory = getattr(importlib.import_module(module_name), attr, None)
    if not callable(factory):
        raise ValueError(f"objective factory {path!r} is not a callable (module:function)")
    return factory
