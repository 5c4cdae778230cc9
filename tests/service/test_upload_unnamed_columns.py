"""A header cell without a name is read as the feature ``column_<n>``, and the upload's notes
say so, with how to name it or leave it out (was: ``a,,y`` gave the feature ``column_2``
without a word), in a CSV and a Parquet file alike; a pandas index, which a row-number note
names already, gets no second note."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from tests.service.uploads import upload

N = 30


def columns(*names: str) -> list[np.ndarray]:
    return [np.cos(np.arange(N) * (i + 1.0)) for i in range(len(names))]


def csv(*names: str) -> bytes:
    return (
        pd.DataFrame(dict(enumerate(columns(*names))))
        .set_axis(names, axis=1)
        .to_csv(index=False)
        .encode()
    )


def parquet(*names: str) -> bytes:
    handle = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(columns(*names), names=list(names)), handle)
    return handle.getvalue()


def test_a_column_without_a_name_is_noted(api: TestClient) -> None:
    said = (
        "column 2 has no name in the header: it is read as the feature 'column_2'; name it in "
        "the header, or upload without it: ignore='column_2' (--ignore)"
    )
    for raw, filename in ((csv("a", "", "y"), "d.csv"), (parquet("a", "", "y"), "d.parquet")):
        body = upload(api, raw, filename=filename)
        assert body["feature_names"] == ["a", "column_2"]
        assert body["notes"] == [said]


def test_several_are_named_in_one_note_and_an_ignored_one_in_none(api: TestClient) -> None:
    raw = csv("", "a", " ", "y", "")
    assert upload(api, raw)["notes"] == [
        "columns 1, 3, 5 have no name in the header: they are read as the features 'column_1', "
        "'column_3', 'column_5'; name them in the header, or upload without them: "
        "ignore=['column_1', 'column_3', 'column_5'] (--ignore column_1 --ignore column_3 "
        "--ignore column_5)"
    ]
    assert upload(api, raw, ignore=["column_1", "column_3", "column_5"])["notes"] == []


def test_a_pandas_index_gets_its_row_number_note_alone(api: TestClient) -> None:
    frame = pd.DataFrame(dict(zip(["x", "y"], columns("x", "y"), strict=True)))
    assert upload(api, frame.to_csv().encode())["notes"] == [
        f"column 'column_1' holds the row numbers 0..{N - 1} in order, as pandas' to_csv writes "
        "its index: if it is a row id, not a feature, upload with ignore='column_1' (--ignore)"
    ]
