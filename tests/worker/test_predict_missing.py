"""Missing cells at predict are filled as the model's training rows' were, and predict says so
where a prediction then rests on a value the rows did not give: a column empty in every row
(was: silent, every prediction made as if that input were its training median; a predict file
whose `area` was blank scored r2 0.29 against 0.90), and a column that had no missing value in
the training file (was: silent). A column that had gaps in training says nothing, as before.

Fast and in-process: ``regtune datasets upload`` and ``best --download`` against the app under
``TestClient``, a worker thread runs the study, ``regtune predict`` under typer's ``CliRunner``
and the model file's ``predict`` of a DataFrame.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from regtune.service.cli.app import app
from regtune.service.model.saved import load
from tests.worker.test_predict_semicolons import trained

ROOMS = (
    "column 'rooms' has 2 missing value(s), and the training file had none there: they are "
    "filled with the median of the model's training rows"
)
CITY = (
    "column 'city' has 1 missing value(s), and the training file had none there: they are "
    "filled with the most frequent category of the model's training rows"
)
AREA = (
    "column 'area' is empty in every row: each prediction uses the median of the model's "
    "training rows for it"
)


def houses(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    area = rng.normal(90, 30, n).round(2)
    rooms = rng.integers(1, 8, n).astype(float)
    city = rng.choice(["oslo", "bergen"], n)
    y = (2 * area + rooms + 10 * (city == "oslo")).round(3)
    return pd.DataFrame({"area": area, "rooms": rooms, "city": city, "y": y})


def said(rows: Path, model: Path) -> list[str]:
    """The warnings ``regtune predict`` gives of ``rows``, after checking that reading them in
    Python (``SavedModel.read``, what a laptop's client without pandas has) gives the same."""
    result = CliRunner().invoke(app, ["predict", str(rows), "--model", str(model)])
    assert result.exit_code == 0, result.output
    lines = " ".join(result.stderr.split()).replace(" warning: ", "\nwarning: ")
    cli = [line.removeprefix("warning: ") for line in lines.splitlines() if "warning:" in line]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load(model).read(rows.read_bytes(), filename=rows.name)
    assert [" ".join(str(w.message).split()) for w in caught] == cli  # was: none in Python
    return cli


def test_predict_says_which_columns_it_filled_that_training_never_had_to(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    train = houses(60, 0)
    train.loc[[3, 7], "area"] = np.nan  # area has gaps in training; rooms and city have none
    path = tmp_path / "houses.csv"
    train.to_csv(path, index=False)
    _, model = trained(api, monkeypatch, path, tmp_path / "m.safetensors")

    new = houses(10, 1).drop(columns=["y"])
    rows = tmp_path / "new.csv"
    new.to_csv(rows, index=False)
    assert said(rows, model) == []
    new.loc[[0], "area"] = np.nan
    new.loc[[1, 2], "rooms"] = np.nan
    new["city"] = new["city"].astype(object)
    new.loc[[4], "city"] = None
    new.to_csv(rows, index=False)
    assert said(rows, model) == [ROOMS, CITY]
    blank = tmp_path / "blank.csv"
    new.assign(area=np.nan).to_csv(blank, index=False)
    assert said(blank, model) == [AREA, ROOMS, CITY]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load(model).predict(new.assign(area=np.nan))
    assert [str(w.message) for w in caught] == [AREA, ROOMS, CITY]
