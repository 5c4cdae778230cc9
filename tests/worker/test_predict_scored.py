"""``regtune predict`` on a file whose target is missing in some rows scores the others, and
says how many (was "442 rows  r2=..." for metrics of 432 of them)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from regtune.service.model.saved import load
from regtune.worker import data
from tests.worker.test_predict_labels import csv, fit_and_write, run


def test_predict_says_how_many_rows_it_scored(tmp_path: Path) -> None:
    model = fit_and_write({"builtin": "diabetes"}, "regression", tmp_path / "d.safetensors")
    loaded = data.load({"builtin": "diabetes"})
    frame = pd.DataFrame(loaded.X, columns=loaded.feature_names).assign(target=loaded.y)
    frame.loc[:9, "target"] = np.nan
    path = csv(frame, tmp_path / "rows.csv")
    result = run(str(path), "--model", str(model), "--out", str(tmp_path / "p.csv"))
    assert result.exit_code == 0, result.output
    assert "432 of 442 rows scored (10 without a target value)" in result.stderr
    answer = json.loads(run(str(path), "--model", str(model), "--json").stdout)
    assert answer["rows"] == 442 and answer["scored_rows"] == 432
    kept = frame.iloc[10:]
    expected = load(model).score(kept.drop(columns=["target"]), kept["target"].to_numpy())
    assert answer["metrics"] == expected
