"""Predicting a table with a downloaded best model; no server involved."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from service.cli.output import JsonOpt, err, fail, params, print_json


def predict(
    data: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="CSV with the feature columns.")
    ],
    model: Annotated[
        Path, typer.Option("--model", "-m", exists=True, dir_okay=False, help="Saved model.")
    ],
    target: Annotated[
        str | None,
        typer.Option(help="Target column to score against (default: 'target' if present)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write predictions here (CSV).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Predict a CSV with a downloaded best model; score it if the target column is there."""
    try:
        import pandas as pd

        from worker.modelfile import load

        saved = load(model)
        frame = pd.read_csv(data, float_precision="round_trip")
        column = target or ("target" if "target" in frame.columns else None)
        if column is not None and column not in frame.columns:
            raise ValueError(f"no column {column!r} in {data}")
        features = frame.drop(columns=[column]) if column else frame
        X = saved.features(features)
        predictions = pd.DataFrame(saved.predict(X))
        metrics = saved.score(X, frame[column].to_numpy()) if column else None
    except (OSError, ValueError, KeyError) as exc:
        fail(exc)
    if out is not None:
        predictions.to_csv(out, index=False)
    if as_json:
        result: dict[str, Any] = {"rows": len(predictions), "metrics": metrics}
        if out is None:
            result["predictions"] = predictions.to_dict(orient="list")
        print_json(result)
        return
    if out is None:
        sys.stdout.write(predictions.to_csv(index=False))
    if metrics is not None:
        err.print(Text(f"{len(predictions)} rows  " + params(metrics)))
