"""What an upload reads as the user may not mean is said in the dataset's ``notes`` and the
CLI's output (was: nothing). A numeric target of a few distinct values (ratings 1-5, scores 0 /
0.5 / 1) is a regression under task auto, as README says: the note says how to make them
classes. A column of the row numbers in order (a pandas index that ``to_csv`` wrote) is a
feature: the note says how to leave it out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tests.inprocess import cli_output

N = 60


def rated(values: np.ndarray) -> bytes:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.normal(size=N), "y": values}).to_csv(index=False).encode()


def notes(api: TestClient, raw: bytes, task: str = "auto") -> list[str]:
    answer = api.post(
        "/v1/datasets", files={"file": ("d.csv", raw)}, data={"target": "y", "task": task}
    )
    assert answer.status_code == 201, answer.text
    found: list[str] = answer.json()["notes"]
    return found


def test_a_few_valued_numeric_target_taken_as_a_regression_is_said_to_be(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    scores = rated(np.resize([0.0, 0.5, 1.0], N))
    assert notes(api, scores) == [
        "task auto took target 'y' as a regression: it holds numbers, 3 distinct (0, 0.5, 1); "
        "to predict them as classes, upload with task multiclass (--task multiclass)"
    ]
    assert notes(api, scores, task="multiclass") == []
    assert notes(api, scores, task="regression") == []
    assert notes(api, rated(np.linspace(0, 1, N))) == []
    ratings = tmp_path / "ratings.csv"
    ratings.write_bytes(rated(np.resize([1, 2, 3, 4, 5], N)))
    said = cli_output(api, monkeypatch, "datasets", "upload", str(ratings), "--target", "y")
    assert "task regression" in said
    assert "note: task auto took target 'y' as a regression: it holds numbers, 5 distinct" in said


def test_a_column_of_row_numbers_is_said_to_be_one(api: TestClient) -> None:
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"x": rng.normal(size=N), "y": rng.normal(size=N)})
    indexed = table.to_csv().encode()  # the index, in a column without a name
    assert notes(api, indexed) == [
        f"column 'column_1' holds the row numbers 0..{N - 1} in order, as pandas' to_csv writes "
        "its index: if it is a row id, not a feature, upload with ignore='column_1' (--ignore)"
    ]
    assert notes(api, table.assign(id=np.arange(1, N + 1)).to_csv(index=False).encode()) == [
        f"column 'id' holds the row numbers 1..{N} in order, as pandas' to_csv writes its "
        "index: if it is a row id, not a feature, upload with ignore='id' (--ignore)"
    ]
    shuffled = table.assign(id=rng.permutation(N)).to_csv(index=False).encode()
    assert notes(api, shuffled) == []


def test_a_column_of_dates_taken_as_categories_is_said_to_be(api: TestClient) -> None:
    """Few enough distinct dates are one-hot encoded as categories, which no later date is at
    predict: the note says so and how to use them (was: nothing; only a column of more dates
    than the category limit was refused, naming them)."""
    rng = np.random.default_rng(0)
    months = pd.date_range("2020-01-01", periods=12, freq="MS").strftime("%Y-%m-%d")
    table = pd.DataFrame({"month": np.resize(months, N), "x": rng.normal(size=N)})
    table["y"] = table["x"] + rng.normal(size=N)
    assert notes(api, table.to_csv(index=False).encode()) == [
        "column 'month' holds dates ('2020-01-01'), read as text: one-hot encoded as 12 "
        "categories, so at predict a date the upload does not hold (any later one) is none of "
        "them; to use dates, add them as numbers (days since a start, a year, a month), or upload "
        "without this column: ignore='month' (--ignore)"
    ]
    cities = table.assign(month=np.resize(["oslo", "bergen", "2020-01-01"], N))
    assert notes(api, cities.to_csv(index=False).encode()) == []


def test_a_text_column_with_a_different_value_in_every_row_is_said_to_be(
    api: TestClient,
) -> None:
    """A name or an id among few rows is within the category limit: one-hot encoded, each
    category is one row's and tells a new row nothing; the note says so and how to leave it out
    (was: nothing; only a column over the limit was refused)."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"name": [f"user{i:02d}" for i in range(40)], "x": rng.normal(size=40)})
    table["y"] = table["x"] + rng.normal(size=40)
    assert notes(api, table.to_csv(index=False).encode()) == [
        "column 'name' has a different text in every row that has one (40 values, such as "
        "'user00'): one-hot encoded, each category is one row's, so it tells a new row nothing "
        "at predict; if it is a name or an id, upload with ignore='name' (--ignore)"
    ]
    repeated = table.assign(name=[f"user{i % 20:02d}" for i in range(40)])
    assert notes(api, repeated.to_csv(index=False).encode()) == []
