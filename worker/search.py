"""What a trial asks of the sampler, and how the loop finds the objective: light on imports.

The loop and the sleep objective of the protocol tests and benchmarks use this module without
loading torch, scikit-learn or the data; the default objective (``regtune.worker.objective``) loads
them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import optuna

from regtune.service.errors import FieldProblem, InvalidSettings
from regtune.service.spec.definition import StudySpec
from regtune.service.spec.space import ARCHITECTURE, KNOBS, Choices, Fixed, Range, grid_values
from regtune.service.store.optuna_db.internals.batched import params_together

StopCheck = Callable[[], None]
"""Called every epoch; raises to stop the trial (study cancelled, worker shutting down)."""
ObjectiveFactory = Callable[..., Callable[[optuna.Trial], Any]]
"""``factory(spec, *, stop_check)`` → an Optuna objective; ``make_objective`` is the default."""


def suggest(
    trial: optuna.Trial, spec: StudySpec, *, skip: Collection[str] = ()
) -> dict[str, float]:
    """The trial's value of every knob, the parameters stored together in one transaction; the
    knobs in ``skip`` are left out (a λ path asks the sampler for every knob but λ)."""
    with params_together(trial):
        return _suggest(trial, spec, skip)


def _suggest(trial: optuna.Trial, spec: StudySpec, skip: Collection[str]) -> dict[str, float]:
    values: dict[str, float] = {}
    for name, param in spec.search_space.items():
        if name in skip:
            continue
        if isinstance(param, Fixed):
            values[name] = param.value
        elif isinstance(param, Choices) and KNOBS[name].boolean:
            flags = grid_values(param, KNOBS[name])
            values[name] = float(trial.suggest_categorical(name, flags))
        elif isinstance(param, Choices) and KNOBS[name].integer:
            # whole numbers, as a range's suggest_int stores them (best_params["batch_size"]: 64)
            values[name] = trial.suggest_categorical(name, grid_values(param, KNOBS[name]))
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
    architectures = spec.search_space.hidden_layers
    if architectures is not None and ARCHITECTURE not in skip:
        label = trial.suggest_categorical(ARCHITECTURE, architectures.labels)
        values[ARCHITECTURE] = float(architectures.labels.index(label))
    return values


def stored_values(spec: StudySpec, params: dict[str, Any]) -> dict[str, float]:
    """The values ``suggest`` gave a finished trial, rebuilt from its stored params."""
    values = {
        name: param.value if isinstance(param, Fixed) else float(params[name])
        for name, param in spec.search_space.items()
    }
    architectures = spec.search_space.hidden_layers
    if architectures is not None:
        values[ARCHITECTURE] = float(architectures.labels.index(params[ARCHITECTURE]))
    return values


def load_factory(path: str) -> ObjectiveFactory:
    """The objective factory named ``module:function`` (setting ``REGTUNE_OBJECTIVE_FACTORY``);
    ``InvalidSettings`` naming the setting if there is none such."""
    import importlib

    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise _no_factory(
            path, f"its module cannot be imported ({type(exc).__name__}: {exc})"
        ) from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise _no_factory(path, f"module {module_name!r} has no function {attr!r}")
    return factory


def _no_factory(path: str, why: str) -> InvalidSettings:
    return InvalidSettings(
        "REGTUNE_OBJECTIVE_FACTORY names no objective factory",
        fields=[
            FieldProblem(
                path="REGTUNE_OBJECTIVE_FACTORY",
                rule=f"must name a function as module:function that the worker can import: "
                f"{why}, got {path!r}",
            )
        ],
    )
