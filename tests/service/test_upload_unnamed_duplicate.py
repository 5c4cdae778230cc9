"""A column without a name is given ``column_<n>``; where another column of the file has that
name, the duplicate says so (was: "duplicate column name 'column_2' (columns 2 and 3)", though
column 2 had no name), in a CSV header and a Parquet file alike, at upload and at predict."""

from __future__ import annotations

import io
from collections.abc import Callable

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from regtune.service.errors import InvalidUpload
from regtune.service.ingest.encoder import Encoder, Feature
from tests.service.uploads import refusal, upload


def parquet(names: list[str]) -> bytes:
    handle = io.BytesIO()
    columns = [pa.array([float(i)] * 30) for i in range(len(names))]
    pq.write_table(pa.Table.from_arrays(columns, names=names), handle)
    return handle.getvalue()


def csv(names: list[str]) -> bytes:
    return (",".join(names) + "\n" + "".join("1,2,3,4\n" for _ in range(30))).encode()


@pytest.mark.parametrize(
    ("names", "said"),
    [
        (
            ["x1", "", "column_2", "y"],
            "duplicate column name 'column_2' (columns 2 and 3): column 2 has no name and was "
            "given 'column_2', which column 3 also has; column names must be unique",
        ),
        (
            ["x1", "column_3", " ", "y"],
            "duplicate column name 'column_3' (columns 2 and 3): column 3 has no name and was "
            "given 'column_3', which column 2 also has; column names must be unique",
        ),
        (
            ["x1", "x1", "x2", "y"],
            "duplicate column name 'x1' (columns 1 and 2); column names must be unique",
        ),
    ],
    ids=["the first unnamed", "the second unnamed", "both named"],
)
@pytest.mark.parametrize("write", [csv, parquet], ids=["csv", "parquet"])
def test_a_duplicate_says_which_column_was_given_its_name(
    api: TestClient, write: Callable[[list[str]], bytes], names: list[str], said: str
) -> None:
    raw = write(names)
    filename = "d.parquet" if raw.startswith(b"PAR1") else "d.csv"
    message, _ = refusal(upload(api, raw, filename=filename))
    assert message == said
    model = Encoder((Feature("x1"), Feature("column_2"), Feature("column_3")), target="y")
    with pytest.raises(InvalidUpload) as refused:
        model.read(raw, filename=filename)
    assert str(refused.value) == said
