"""A value far outside what the model trained on is predicted, and predict says so: an area of
1e15 m² priced a house at 1.9e19 without a word (an MLP, or a linear model, extrapolates
wherever it is asked). A value within the training rows' spread says nothing.

Fast and in-process, as ``test_predict_missing``: a study run by a worker thread, its model
downloaded, ``regtune predict`` under ``CliRunner`` and the model file's ``predict`` of a
DataFrame.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from regtune.service.model.saved import load
from tests.worker.test_predict_missing import houses, said
from tests.worker.test_predict_semicolons import trained


def test_predict_warns_of_a_value_far_outside_the_training_rows(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "houses.csv"
    houses(60, 0).to_csv(path, index=False)
    _, model = trained(api, monkeypatch, path, tmp_path / "m.safetensors")
    saved = load(model)
    mean, sd = saved.scaler.x_mean[0], saved.scaler.x_scale[0]

    new = houses(10, 1).drop(columns=["y"])
    rows = tmp_path / "new.csv"
    new.to_csv(rows, index=False)
    assert said(rows, model) == []
    new.loc[[2, 5], "area"] = [1e15, -1e9]
    new.to_csv(rows, index=False)
    expected = (
        "column 'area' has 2 value(s) more than 10 standard deviations from the training rows' "
        f"mean, as 1e+15 at line 4 (data row 3), where the mean is {mean:.6g} and the standard "
        f"deviation {sd:.6g}: the model extrapolates there"
    )
    assert said(rows, model) == [expected]  # the file's line (was: "data row 3" alone)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        answer = saved.predict(new)["prediction"]
    assert [str(w.message) for w in caught] == [
        expected.replace("line 4 (data row 3)", "data row 3")
    ]
    assert np.all(np.isfinite(answer))
