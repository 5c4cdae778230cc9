"""Trials as a pandas DataFrame with the columns of Optuna's ``Study.trials_dataframe()``.

``number``, ``value_<metric>`` (``values_<name>`` of each objective with several; regtune names
every study's objectives, as Optuna's ``set_metric_names`` does),
``datetime_start``, ``datetime_complete``, ``duration``, ``params_<name>``, ``user_attrs_<name>``,
``state`` (``COMPLETE``, ``PRUNED``...), one row per trial in trial-number order. pandas is
imported here only: the client itself does not need it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from regtune.service.api.schemas import TrialOut

if TYPE_CHECKING:
    import pandas as pd


def objective_names(definition: dict[str, Any]) -> list[str]:
    """The objectives' names of a stored definition, in order (Optuna's metric names)."""
    return list(definition.get("objectives") or [definition["objective"]["metric"]])


def trials_frame(trials: Sequence[TrialOut], names: Sequence[str]) -> pd.DataFrame:
    try:
        import pandas as pd
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            "trials_dataframe needs pandas: pip install pandas", name=exc.name
        ) from exc
    rows = [_row(t, names) for t in sorted(trials, key=lambda t: t.number)]
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
    return frame[[*first, *params, *attrs, "state"]]


def _row(trial: TrialOut, names: Sequence[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"number": trial.number}
    if len(names) == 1:
        row[f"value_{names[0]}"] = trial.value
    else:
        values = trial.values or [None] * len(names)
        row.update({f"values_{n}": v for n, v in zip(names, values, strict=True)})
    row["datetime_start"] = trial.datetime_start
    row["datetime_complete"] = trial.datetime_complete
    row.update({f"params_{k}": v for k, v in trial.params.items()})
    row.update({f"user_attrs_{k}": v for k, v in trial.user_attrs.items()})
    row["state"] = trial.state
    return row
