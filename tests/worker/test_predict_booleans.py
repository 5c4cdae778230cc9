"""A boolean column means the same whichever way a file writes it: CSV ``True``/``true``/``TRUE``,
a Parquet or pandas bool, and at predict ``1``/``0``. Upload makes it the text categories
``True``/``False`` from every format, and predict binds each writing to them, so a model
trained on a Parquet file predicts the same rows given as CSV or as a DataFrame (was: a Parquet
bool became a number, refused at predict in a CSV as "held numbers ... text 'True'", and a CSV
model read a Parquet bool as the unseen categories '0'/'1', predicting other values).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from regtune.service.ingest.columns import read_table
from regtune.service.ingest.encoder import Encoder, Feature
from regtune.service.ingest.header import Limits
from regtune.service.model.saved import load
from tests.worker.test_predict_labels import Saver, predicted, saved_model

__all__ = ["saved_model"]  # the fixture, shared with test_predict_labels


def flagged(n: int = 80, seed: int = 0) -> pd.DataFrame:
    """A regression target that a boolean column moves by 3."""
    rng = np.random.default_rng(seed)
    flag = rng.integers(0, 2, size=n).astype(bool)
    x = rng.normal(size=n)
    return pd.DataFrame({"x": x, "flag": flag, "y": 2 * x + 3 * flag + rng.normal(0, 0.1, n)})


def test_a_boolean_is_the_same_categories_from_csv_and_parquet(tmp_path: Path) -> None:
    frame = flagged()
    parquet = tmp_path / "t.parquet"
    frame.to_parquet(parquet)
    lower = frame.assign(flag=frame.flag.map({True: "true", False: "FALSE"})).to_csv(index=False)
    for raw, name in (
        (parquet.read_bytes(), "t.parquet"),
        (frame.to_csv(index=False).encode(), "t.csv"),
        (lower.encode(), "lower.csv"),
    ):
        table = read_table(raw, filename=name, target="y")
        assert table.feature_names == ["x", "flag=False", "flag=True"], name
    target = frame.assign(y=frame.flag, flag=frame.x > 0)
    target.to_parquet(parquet)
    classes = read_table(parquet.read_bytes(), filename="t.parquet", target="y").classes
    assert classes == ["False", "True"]


@pytest.mark.parametrize("trained_on", ["parquet", "csv"])
def test_a_model_predicts_the_same_rows_from_csv_parquet_and_a_dataframe(
    saved_model: Saver, tmp_path: Path, trained_on: str
) -> None:
    frame = flagged()
    parquet, text = tmp_path / "rows.parquet", tmp_path / "rows.csv"
    frame.to_parquet(parquet)
    frame.to_csv(text, index=False)
    train = parquet if trained_on == "parquet" else text
    model = saved_model(train.read_bytes(), target="y", filename=train.name)
    expected = predicted(train, model)["predictions"]["prediction"]
    assert predicted(parquet, model)["metrics"]["r2"] > 0.95
    assert np.allclose(predicted(text, model)["predictions"]["prediction"], expected)
    assert np.allclose(predicted(parquet, model)["predictions"]["prediction"], expected)
    lower = tmp_path / "lower.csv"
    frame.assign(flag=frame.flag.map({True: "true", False: "false"})).to_csv(lower, index=False)
    assert np.allclose(predicted(lower, model)["predictions"]["prediction"], expected)
    rows = frame.drop(columns=["y"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "values the model never saw"
        for written in (rows, rows.assign(flag=rows.flag.astype(int))):
            assert np.allclose(load(model).predict(written)["prediction"], expected)


def test_a_numeric_column_of_an_older_model_takes_booleans_as_one_and_zero() -> None:
    """A model saved when a Parquet bool was read as a number still binds booleans (its file
    says nothing of ``numbers_only``: ``test_predict_numeric_booleans``)."""
    encoder = Encoder.from_dict({"features": [{"name": "flag", "categories": None}], "target": "y"})
    X, _ = encoder.encode({"flag": pd.Series([True, False, None], dtype=object)}, Limits())
    assert np.array_equal(X[:, 0], [1.0, 0.0, np.nan], equal_nan=True)


def test_a_target_of_booleans_binds_to_a_models_zero_one_labels() -> None:
    encoder = Encoder((Feature("x"),), target="y", classes=("0", "1"))
    target = encoder.target_values(pd.Series(["True", "false", None]))
    assert target.y.tolist() == [1, 0] and target.scored.tolist() == [True, True, False]
