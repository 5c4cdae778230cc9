"""A Parquet column of decimals (a database's NUMERIC or DECIMAL, as money columns are exported)
is a column of numbers, read as the same numbers written in a CSV are (was: a 422 "has Parquet
type decimal128(10, 2); only numbers, booleans and text are supported"), at upload and at
predict."""

from __future__ import annotations

import io
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from regtune.service.store.repos.datasets import load_arrays
from tests.service.uploads import upload

N = 40


def prices() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    price = (rng.normal(size=N) * 1000).round(2)
    return pd.DataFrame({"price": price, "y": price / 100 + rng.normal(size=N)})


def with_decimals(frame: pd.DataFrame) -> bytes:
    decimals = [None if i == 3 else Decimal(f"{v:.2f}") for i, v in enumerate(frame["price"])]
    table = pa.table(
        {
            "price": pa.array(decimals, type=pa.decimal128(12, 2)),
            "y": pa.array(frame["y"].to_numpy()),
        }
    )
    handle = io.BytesIO()
    pq.write_table(table, handle)
    return handle.getvalue()


def test_a_parquet_decimal_column_is_numbers(api: TestClient) -> None:
    frame = prices()
    read = upload(api, with_decimals(frame), filename="d.parquet")
    assert read.get("columns") == [
        {"name": "price", "kind": "numeric", "n_missing": 1, "categories": None, "features": [0, 1]}
    ], read
    written = frame.astype({"price": object})
    written.loc[3, "price"] = None
    plain = upload(api, written.to_csv(index=False).encode())
    stored, stored_csv = load_arrays(str(read["id"])), load_arrays(str(plain["id"]))
    np.testing.assert_array_equal(stored.X, stored_csv.X)
    np.testing.assert_array_equal(stored.y, stored_csv.y)
    assert np.isnan(stored.X[3, 0]) and np.ptp(stored.X[~np.isnan(stored.X[:, 0]), 0]) > 100

    rows = stored.encoder.read(with_decimals(frame), filename="new.parquet")
    np.testing.assert_array_equal(rows.X, stored.X)
