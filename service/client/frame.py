"""Trials as a pandas DataFrame with the columns of Optuna's ``Study.trials_dataframe()``.

``number``, ``value_<metric>`` (``values_<name>`` of each objective with several; regtune names
every study's objectives, as Optuna's ``set_metric_names`` does),
``datetime_start``, ``datetime_complete``, ``duration``, ``params_<name>``, ``user_attrs_<name>``,
``state`` (``COMPLETE``, ``PRUNED``...), one row per trial in trial-number order. Times are
naive local time, as Optuna's trials carry them (the API's answers carry their offset). pandas is
imported here only: the client itself does not need it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from regtune.service.api.schemas.trials import TrialOut
from regtune.service.spec.objective import METRIC_DIRECTIONS, SPARSITY_OBJECTIVES

if TYPE_CHECKING:
    import pandas as pd


def objective_names(definition: dict[str, Any]) -> list[str]:
    """The objectives' names of a stored definition, in order (Optuna's metric names)."""
    return list(definition.get("objectives") or [definition["objective"]["metric"]])


def objective_directions(definition: dict[str, Any]) -> list[str]:
    """The objectives' directions of a stored definition, in order."""
    if definition.get("objectives"):
        known = METRIC_DIRECTIONS | SPARSITY_OBJECTIVES
        return [known[name] for name in definition["objectives"]]
    return [definition["objective"]["direction"]]


def trials_frame(
    trials: Sequence[TrialOut], names: Sequence[str], directions: Sequence[str]
) -> pd.DataFrame:
    try:
        import pandas as pd
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            "trials_dataframe needs pandas: pip install pandas", name=exc.name
        ) from exc
    rows = [_row(t, names, directions) for t in sorted(trials, key=lambda t: t.number)]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    for column in ("datetime_start", "datetime_complete"):
        frame[column] = pd.to_datetime(frame[column])
    frame["duration"] = frame["datetime_complete"] - frame["datetime_start"]
    values = [f"value_{names[0]}"] if len(names) == 1 else [f"values_{n}" for n in names]
    first = ["number", *values]
    first += ["datetime_start", "datetime_complete", "duration"]
    params = sorted(c for c in frame.columns if c.startswith("params_"))
    attrs = sorted(c for c in frame.columns if c.startswith("user_attrs_"))
    for column in [*values, *attrs]:  # JSON's null for NaN: numbers again, as Optuna's
        if frame[column].dtype == object and frame[column].map(_number_or_none).all():
            frame[column] = frame[column].astype(float)
    return frame[[*first, *params, *attrs, "state"]]


def _number_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _naive_local(at: datetime | None) -> datetime | None:
    """A time from the API (with its offset) as Optuna gives it: naive, in this machine's local
    time. One column of times with an offset each would not even be a datetime column when the
    offsets differ (a study across a change of daylight saving time)."""
    return None if at is None else at.astimezone().replace(tzinfo=None)


def _row(trial: TrialOut, names: Sequence[str], directions: Sequence[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"number": trial.number}
    values = [trial.value] if len(names) == 1 else list(trial.values or [None] * len(names))
    if trial.state == "COMPLETE":  # a COMPLETE value JSON cannot carry is ±inf (a diverged trial)
        worst = [math.inf if d == "minimize" else -math.inf for d in directions]
        values = [w if v is None else v for v, w in zip(values, worst, strict=True)]
    if len(names) == 1:
        row[f"value_{names[0]}"] = values[0]
    else:
        row.update({f"values_{n}": v for n, v in zip(names, values, strict=True)})
    row["datetime_start"] = _naive_local(trial.datetime_start)
    row["datetime_complete"] = _naive_local(trial.datetime_complete)
    row.update({f"params_{k}": v for k, v in trial.params.items()})
    row.update({f"user_attrs_{k}": v for k, v in trial.user_attrs.items()})
    row["state"] = trial.state
    return row
