"""Points to evaluate: configurations a study runs first, as given, before its sampler proposes
its own (Ray Tune's and hyperopt's ``points_to_evaluate``, Optuna's ``enqueue_trial``).

A point names searched knobs of the study's space (``hidden_layers`` as its list of units) and
their values; what a point leaves out the sampler proposes. ``optuna_params`` checks a point
against the space and gives it as the parameters ``suggest`` stores (the names, and an integer,
a flag or an architecture's label where the trial's parameter is one), which is what the study's
Optuna trial is enqueued with.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from regtune.service.spec.space import (
    ARCHITECTURE,
    KNOBS,
    Choices,
    Fixed,
    Range,
    grid_values,
    layers_label,
)

if TYPE_CHECKING:
    from regtune.service.spec.space import SearchSpace

MAX_POINTS = 1_000
"""The most points a definition may give (each is a trial of the budget)."""
POINT_ATTR = "regtune:point"
"""Trial user attribute of a trial enqueued from ``sampler.points_to_evaluate``: the point's
position there (a retry of it keeps it, as it keeps every user attribute). Here, not only in
the store's ``attrs``, so that the client's CLI, which has no store, reads it too."""


PATH_CHOOSES = ("lambda", "relax")
"""The knobs a λ path chooses for each of its points (``regtune.worker.paths``)."""


def runs_a_path(point: Mapping[str, Any]) -> bool:
    """Whether ``point``, in a λ-path study, runs a path at its other knobs: it leaves out λ
    and relax, which the path chooses; one that gives either is that one configuration."""
    return not set(PATH_CHOOSES) & point.keys()


def points_trials(points: Sequence[Mapping[str, Any]], *, path_points: int) -> int:
    """Trials of the budget ``points`` take: a path's ``path_points`` (``StudySpec.
    path_points``, 1 in a study without λ paths) for each point that runs one, 1 for another."""
    return sum(path_points if runs_a_path(point) else 1 for point in points)


class PointError(ValueError):
    """A point's parameter the space does not admit: ``name`` is the parameter (None: the
    point as a whole)."""

    def __init__(self, name: str | None, message: str) -> None:
        super().__init__(message)
        self.name = name


def optuna_params(space: SearchSpace, point: Mapping[str, Any]) -> dict[str, Any]:
    """``point`` as the Optuna parameters of the study's trials; ``PointError`` naming the first
    parameter the space does not admit, and why."""
    if not point:
        raise PointError(None, "a point gives at least one searched parameter")
    knobs = dict(space.items())
    params: dict[str, Any] = {}
    for name, value in point.items():
        if name == ARCHITECTURE and space.hidden_layers is not None:
            params[name] = _architecture(space, value)
            continue
        param = knobs.get(name)
        if param is None or isinstance(param, Fixed):
            raise _not_searched(space, name, param)
        params[name] = _value(name, param, value)
    return params


def refusal(
    space: SearchSpace, points: Sequence[Mapping[str, Any]]
) -> tuple[tuple[int | str, ...], str, Any] | None:
    """The first of ``points`` the space does not admit: where (its index, and the parameter if
    one), why, and what was given there; None when the space admits every one."""
    for index, point in enumerate(points):
        try:
            optuna_params(space, point)
        except PointError as exc:
            if exc.name is None:
                return (index,), str(exc), point
            return (index, exc.name), str(exc), point.get(exc.name)
    return None


def _not_searched(space: SearchSpace, name: str, param: Fixed | None) -> PointError:
    """Why a point may not give ``name``, and the knobs it may give."""
    if param is not None:
        why = f"fixed at {param.value:g} by search_space.{name}"
    elif name in KNOBS:  # relax's default range is chosen after this check
        why = f"search_space.{name} is left out (give its range or choices to set it)"
    else:
        why = "not a knob of the search space"
    searched = sorted(knob for knob, _ in space.searched())
    if space.hidden_layers is not None:
        searched.append(ARCHITECTURE)
    return PointError(
        name, f"{why}: a point gives searched parameters only ({', '.join(searched)})"
    )


def _architecture(space: SearchSpace, value: Any) -> str:
    assert space.hidden_layers is not None
    labels = space.hidden_layers.labels
    if not (isinstance(value, list) and all(_whole(units) for units in value)):
        raise PointError(ARCHITECTURE, f"an architecture is a list of units, got {value!r}")
    label = layers_label([int(units) for units in value])
    if label not in labels:
        choices = ", ".join(f"[{label.replace('-', ', ')}]" for label in labels)
        raise PointError(ARCHITECTURE, f"must be one of the searched {choices}, got {value!r}")
    return label


def _value(name: str, param: Range | Choices, value: Any) -> Any:
    knob = KNOBS[name]
    if knob.boolean:
        if not isinstance(value, bool):
            raise PointError(name, f"must be true or false, got {value!r}")
        if value not in grid_values(param, knob):
            raise PointError(name, f"must be one of the searched choices, got {value!r}")
        return value
    if not _number(value):
        raise PointError(name, f"must be a finite number, got {value!r}")
    if knob.integer and not _whole(value):
        raise PointError(name, f"must be a whole number, got {value!r}")
    if isinstance(param, Choices):
        for choice in grid_values(param, knob):
            if choice == value:
                return choice  # the choice itself: Optuna's categorical holds that one
        shown = ", ".join(f"{c:g}" for c in param.choices)
        raise PointError(name, f"must be one of the searched choices ({shown}), got {value!r}")
    if not param.low <= value <= param.high:
        within = f"[{param.low:g}, {param.high:g}]"
        raise PointError(name, f"must be within the searched range {within}, got {value!r}")
    if param.step is not None:
        steps = (value - param.low) / param.step
        if abs(steps - round(steps)) > 1e-8:
            raise PointError(
                name,
                f"must be on the searched range's steps (low {param.low:g} + k × step "
                f"{param.step:g}), got {value!r}",
            )
    return int(value) if knob.integer else float(value)


def _number(value: Any) -> bool:
    """A JSON number: an int (of any size) or a finite float, not a flag."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _whole(value: Any) -> bool:
    return _number(value) and (isinstance(value, int) or float(value).is_integer())
