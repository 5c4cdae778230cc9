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

from regtune.service.model.saved import Member, SavedModel, load
from regtune.service.model.standardizer import Standardizer
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
    assert saved.scaler.x_min is not None and saved.scaler.x_max is not None
    low, high = saved.scaler.x_min[0], saved.scaler.x_max[0]
    expected = (
        f"column 'area' has 2 value(s) outside the training rows' range ({low:.6g} to "
        f"{high:.6g}) and more than 10 standard deviations from the training rows' mean, as "
        f"1e+15 at line 4 (data row 3), where the mean is {mean:.6g} and the standard deviation "
        f"{sd:.6g}: the model extrapolates there"
    )
    assert said(rows, model) == [expected]  # the file's line (was: "data row 3" alone)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        answer = saved.predict(new)["prediction"]
    assert [str(w.message) for w in caught] == [
        expected.replace("line 4 (data row 3)", "data row 3")
    ]
    assert np.all(np.isfinite(answer))


def test_a_value_the_training_rows_reach_is_no_extrapolation_however_far_from_the_mean(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Was a warning that "the model extrapolates there" for the very rows the model trained
    on: digits' rare pixels lie 14 standard deviations from their mean in the training rows."""
    train = houses(400, 0)
    train.loc[[0, 1], "area"] = 2_000.0  # two rare houses, far from the rest
    path = tmp_path / "houses.csv"
    train.to_csv(path, index=False)
    _, model = trained(api, monkeypatch, path, tmp_path / "m.safetensors")
    saved = load(model)
    assert saved.scaler.x_min is not None and saved.scaler.x_max is not None
    mean, sd, high = saved.scaler.x_mean[0], saved.scaler.x_scale[0], saved.scaler.x_max[0]
    assert high == 2_000.0 and (high - mean) / sd > 10  # a training value past 10 SD

    new = houses(10, 1).drop(columns=["y"])
    new.loc[3, "area"] = 2_000.0
    rows = tmp_path / "new.csv"
    new.to_csv(rows, index=False)
    assert said(rows, model) == []
    new.loc[3, "area"] = 2_001.0  # just past the largest the model saw
    new.to_csv(rows, index=False)
    assert [note.split(" at line")[0] for note in said(rows, model)] == [
        f"column 'area' has 1 value(s) outside the training rows' range "
        f"({saved.scaler.x_min[0]:.6g} to 2000) and more than 10 standard deviations from the "
        "training rows' mean, as 2001"
    ]


def test_another_value_in_a_column_constant_in_training_is_said_as_such(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Was no warning for a value within 10 of the constant, and past it "the standard
    deviation 1" (the stand-in for the 0 it was), while an MLP's answer moved with the value."""
    train = houses(60, 0).assign(const=7.0)
    path = tmp_path / "houses.csv"
    train.to_csv(path, index=False)
    _, model = trained(api, monkeypatch, path, tmp_path / "m.safetensors")

    new = houses(10, 1).drop(columns=["y"]).assign(const=7.0)
    rows = tmp_path / "new.csv"
    new.to_csv(rows, index=False)
    assert said(rows, model) == []
    new.loc[[4, 6], "const"] = [0.0, 100.0]
    new.to_csv(rows, index=False)
    assert said(rows, model) == [
        "column 'const' held 7 in every training row and has 2 other value(s), as 0 at line 6 "
        "(data row 5): the model never learned from this column, so its answer there is not "
        "one the training rows measured"
    ]


def test_fold_models_judge_by_the_rows_they_trained_on_together() -> None:
    """Member 0's column was constant (its rows all 0: the stand-in standard deviation 1),
    the other fold's was not: the warning named member 0's mean and "the standard deviation
    1"; the fold models' rows together set the mean, the spread and the range."""
    rng = np.random.default_rng(0)
    zeros, spread = np.zeros((40, 1)), rng.normal(5.0, 2.0, (40, 1))
    members = [
        Member([(np.ones((1, 1)), np.zeros(1))], Standardizer.fit(X, X[:, 0], "regression"), None)
        for X in (zeros, spread)
    ]
    model = SavedModel(members=members, task="regression", feature_names=["x"], info={})
    together = np.concatenate([zeros, spread])
    mean, sd = together.mean(), together.std()
    assert members[0].scaler.x_scale[0] == 1.0  # the stand-in

    new = np.array([[mean + 9 * sd], [together.max() + 11 * sd]])
    (note,) = model.far_notes(new)

    assert note.startswith("column 'x' has 1 value(s) outside the training rows' range")
    assert note.endswith(
        f"where the mean is {mean:.6g} and the standard deviation {sd:.6g}: the model "
        "extrapolates there"
    )
