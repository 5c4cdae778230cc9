"""A Parquet int64 column of values beyond 2^53 (a 64-bit id, a snowflake) is numbers read as
the same column written in a CSV is: each value its nearest float64, as pandas parses the text
(was: a 500 at upload, pyarrow's "Integer value … not in range" from a safe cast, and at predict
that message naming no column)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient

from regtune.service.store.repos.datasets import load_arrays
from tests.service.uploads import upload

N = 40


def with_ids() -> pd.DataFrame:
    x = np.arange(N, dtype=np.float64)
    ids = [1_400_000_000_000_000_000 + 7 * i for i in range(N)]
    return pd.DataFrame({"x": x, "user_id": np.array(ids, dtype=np.int64), "y": 2 * x})


def parquet(frame: pd.DataFrame) -> bytes:
    handle = io.BytesIO()
    frame.to_parquet(handle)
    return handle.getvalue()


def test_a_parquet_column_of_64_bit_ids_reads_as_its_csv(api: TestClient) -> None:
    frame = with_ids()
    read = upload(api, parquet(frame), filename="ids.parquet")
    assert [c["name"] for c in read.get("columns", [])] == ["x", "user_id"], read
    plain = upload(api, frame.to_csv(index=False).encode())
    stored, stored_csv = load_arrays(str(read["id"])), load_arrays(str(plain["id"]))
    np.testing.assert_array_equal(stored.X, stored_csv.X)
    assert stored.X[0, 1] == float(frame["user_id"][0])

    rows = stored.encoder.read(parquet(frame.drop(columns=["y"])), filename="new.parquet")
    np.testing.assert_array_equal(rows.X, stored.X)
