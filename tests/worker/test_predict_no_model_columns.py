"""A file to predict that shares no column with the model is refused naming the columns it
lacks, as one that shares some is (was: "the file has a header but no data rows", since every
column of it was left out before its rows were counted), in CSV and in Parquet."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from regtune.service.errors import InvalidUpload
from regtune.service.ingest.encoder import Encoder, Feature

LACKS = r"the file lacks column\(s\) \['income', 'city'\] the model was trained on"


def encoder() -> Encoder:
    return Encoder((Feature("income"), Feature("city", ("bergen", "oslo"))), target="y")


def parquet(frame: pd.DataFrame) -> bytes:
    handle = io.BytesIO()
    frame.to_parquet(handle, index=False)
    return handle.getvalue()


@pytest.mark.parametrize(
    ("raw", "filename"),
    [
        (b"a,b\n1,2\n3,4\n", "unrelated.csv"),
        (parquet(pd.DataFrame({"a": [1, 3], "b": [2, 4]})), "unrelated.parquet"),
    ],
    ids=["csv", "parquet"],
)
def test_a_file_of_none_of_the_model_s_columns_is_refused_naming_them(
    raw: bytes, filename: str
) -> None:
    with pytest.raises(InvalidUpload, match=LACKS):
        encoder().read(raw, filename=filename)


def test_a_file_of_the_model_s_columns_and_no_rows_is_still_said_to_have_none() -> None:
    with pytest.raises(InvalidUpload, match="the file has a header but no data rows"):
        encoder().read(b"income,city\n", filename="empty.csv")
