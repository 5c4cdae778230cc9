"""A study trained to the end on a CSV separated by semicolons with decimal commas predicts what
the same study on the same data written with commas and decimal points predicts, on new rows in
either dialect; a model of a comma file (as every model saved before) predicts rows written
with semicolons and decimal commas.

Fast and in-process: ``regtune datasets upload`` and ``best --download`` against the app under
``TestClient``, a worker thread runs the studies, ``regtune predict`` under typer's
``CliRunner``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from regtune.service.cli.app import app
from tests.inprocess import cli_output, run_to_the_end

N = 60


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = (rng.normal(size=N) * 2000).round(2)
    city = rng.choice(["oslo", "bergen"], size=N)
    y = (x / 1000 + (city == "oslo") + rng.normal(size=N) * 0.1).round(4)
    return pd.DataFrame({"x": x, "city": city, "y": y})


def semicolons(data: pd.DataFrame, path: Path) -> Path:
    """As a spreadsheet writes it where the decimal mark is a comma: ``1.234,56``."""
    written = data.assign(x=[f"{v:,.2f}".replace(",", "_").replace(".", ",") for v in data["x"]])
    written["x"] = written["x"].str.replace("_", ".")
    written.to_csv(path, index=False, sep=";", decimal=",")
    return path


def commas(data: pd.DataFrame, path: Path) -> Path:
    data.to_csv(path, index=False)
    return path


def trained(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, train: Path, model: Path, *options: str
) -> tuple[str, Path]:
    """What ``datasets upload`` (with ``options``) said of ``train``, and the downloaded model
    of a study on it."""
    said = cli_output(api, monkeypatch, "datasets", "upload", str(train), "--target", "y", *options)
    dataset = next(d for d in api.get("/v1/datasets").json()["items"] if d["name"] == train.name)
    definition = {
        "name": train.stem,
        "dataset": {"id": dataset["id"]},
        "model": {"kind": "linear"},
        "search_space": {"lambda": 1e-3, "l1_ratio": 0.0},
        "sampler": {"type": "random", "seed": 0},
        "budget": {"n_trials": 1},
    }
    created = api.post("/v1/studies", json=definition)
    assert created.status_code == 201, created.text
    study = run_to_the_end(api, created.json()["id"], timeout=300)
    assert study["status"] == "completed", study
    cli_output(api, monkeypatch, "best", study["id"], "--download", str(model))
    return said, model


def predicted(rows: Path, model: Path) -> np.ndarray:
    result = CliRunner().invoke(app, ["predict", str(rows), "--model", str(model), "--json"])
    assert result.exit_code == 0, result.output
    answer: dict[str, Any] = json.loads(result.stdout)
    return np.array(answer["predictions"]["prediction"], dtype=float)


def test_a_semicolon_study_predicts_as_the_same_study_on_commas(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = frame()
    said, semicolon_model = trained(
        api, monkeypatch, semicolons(data, tmp_path / "sheet.csv"), tmp_path / "s.safetensors"
    )
    assert "note: the file was read as separated by semicolons with decimal commas" in said
    _, comma_model = trained(
        api, monkeypatch, commas(data, tmp_path / "plain.csv"), tmp_path / "c.safetensors"
    )

    new = frame().sample(frac=1.0, random_state=1).head(10).drop(columns=["y"])
    new_semicolons = semicolons(new.assign(y=0.0), tmp_path / "new-s.csv")
    new_commas = commas(new, tmp_path / "new-c.csv")
    assert b"," in new_semicolons.read_bytes() and b";" in new_semicolons.read_bytes()

    expected = predicted(new_commas, comma_model)
    np.testing.assert_allclose(predicted(new_semicolons, semicolon_model), expected, rtol=1e-9)
    np.testing.assert_allclose(predicted(new_commas, semicolon_model), expected, rtol=1e-9)
    np.testing.assert_allclose(predicted(new_semicolons, comma_model), expected, rtol=1e-9)
    assert np.ptp(expected) > 1.0  # the model says something of x and city
