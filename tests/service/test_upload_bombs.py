"""Uploads are bounded before they are decoded, and corrupted pages are caught (issue 15, item 3).

The two bombs go to a real API process whose peak resident memory (``VmHWM``) is read from /proc
before and after, so "rejected before decoding" is checked as memory that was never allocated;
the other checks run in-process.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from tests.inprocess import Apps
from tests.support import Processes, Stack

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def served(module_processes: Processes) -> Stack:
    tmp = module_processes.tmp
    stack = module_processes.stack(f"sqlite:///{tmp / 'regtune.db'}").start_api()
    # the API's first upload imports what reading one needs (pyarrow, pandas: ~110 MB): paid
    # here, so that each test's peak measures its own upload
    rows = 20
    warm = pa.table({"x": np.arange(rows, dtype=float), "y": ["a", "b"] * (rows // 2)})
    answered = upload(stack, parquet_bytes(warm), "warm.parquet")
    assert answered.status_code == 201, answered.text
    return stack


def peak_rss(api: Stack) -> int:
    assert api.api is not None
    status = Path(f"/proc/{api.api.pid}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def upload(
    api: Stack | TestClient, content: bytes, filename: str, target: str = "y"
) -> httpx.Response:
    form: dict[str, Any] = {"files": {"file": (filename, content)}, "data": {"target": target}}
    if isinstance(api, TestClient):
        return api.post("/v1/datasets", **form)
    return httpx.post(f"{api.url}/v1/datasets", timeout=300, **form)


def parquet_bytes(table: pa.Table, **options: object) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, **options)
    return buffer.getvalue()


def test_a_parquet_decompression_bomb_is_refused_from_its_metadata(served: Stack) -> None:
    """2 M rows x 60 zero columns: about 3 MB on disk, about 1 GB decoded."""
    rows = 2_000_000
    zeros = pa.array(np.zeros(rows))
    table = pa.table({**{f"x{i}": zeros for i in range(60)}, "y": zeros})
    content = parquet_bytes(table, compression="zstd")
    assert len(content) < 8 * MIB
    before = peak_rss(served)
    response = upload(served, content, "bomb.parquet")
    assert response.status_code == 422, response.text
    message = response.json()["error"]["message"]
    assert "REGTUNE_DATASET_MAX_CELLS" in message and "2000000 rows" in message
    assert peak_rss(served) - before < 100 * MIB


def test_a_text_bomb_is_held_once_per_distinct_value(served: Stack) -> None:
    """A dictionary-encoded text column: 200,000 rows of one 10 KB value (2 GB if each row kept
    its own copy) is refused for its over-long value without decoding the rows."""
    rows = 200_000
    long_value = "a" * 10_000
    table = pa.table(
        {
            "color": pa.array([long_value] * 2 + ["b"] * (rows - 2)).dictionary_encode(),
            "y": pa.array(np.arange(rows, dtype=np.float64)),
        }
    )
    content = parquet_bytes(table, compression="zstd")
    before = peak_rss(served)
    response = upload(served, content, "text.parquet")
    assert response.status_code == 422, response.text
    assert "characters" in response.json()["error"]["message"]
    assert peak_rss(served) - before < 200 * MIB


def test_a_long_text_value_in_a_csv_is_refused_not_a_500(api: TestClient) -> None:
    """One 500 KB text value among short ones (numpy's fixed-width strings would need GBs)."""
    lines = [f"{'red' if i % 2 else 'blue'},{i}" for i in range(20_000)]
    lines[7] = "x" * 500_000 + ",7"
    response = upload(api, ("color,y\n" + "\n".join(lines) + "\n").encode(), "long.csv")
    assert response.status_code == 422, response.text
    assert "characters" in response.json()["error"]["message"]


def corrupt_middle_of_first_page(content: bytes, n_bytes: int = 200) -> bytes:
    """Overwrite ``n_bytes`` in the middle of the first column's data, past the page header."""
    chunk = pq.ParquetFile(io.BytesIO(content)).metadata.row_group(0).column(0)
    middle = chunk.data_page_offset + chunk.total_compressed_size // 2
    start = middle - n_bytes // 2
    data = bytearray(content)
    data[start : start + n_bytes] = bytes(b ^ 0x5A for b in data[start : start + n_bytes])
    return bytes(data)


def small_frame(n: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {"x1": rng.normal(size=n), "x2": rng.normal(size=n), "y": rng.normal(size=n)}
    )


def test_a_corrupted_page_is_caught_by_its_checksum(api: TestClient) -> None:
    table = pa.Table.from_pandas(small_frame(), preserve_index=False)
    content = parquet_bytes(
        table, compression="none", use_dictionary=False, write_page_checksum=True
    )
    assert upload(api, content, "good.parquet").status_code == 201
    response = upload(api, corrupt_middle_of_first_page(content), "corrupt.parquet")
    assert response.status_code == 422, response.text
    assert "checksum" in response.json()["error"]["message"].lower()


def test_rows_over_the_limit_are_refused_from_the_metadata(apps: Apps) -> None:
    api = apps(dataset_max_rows=1000)
    table = pa.Table.from_pandas(small_frame(5000), preserve_index=False)
    response = upload(api, parquet_bytes(table), "rows.parquet")
    assert response.status_code == 422, response.text
    assert "REGTUNE_DATASET_MAX_ROWS" in response.json()["error"]["message"]


def test_a_csv_over_the_row_limit_is_said_to_have_more_rows_than_it(apps: Apps) -> None:
    """The CSV reader stops one row past the limit: the file has more rows than that, not that
    many (was "the file has 1001 rows" of a file of 5000)."""
    api = apps(dataset_max_rows=1000)
    response = upload(api, small_frame(5000).to_csv(index=False).encode(), "rows.csv")
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"] == (
        "the file has more than 1000 rows; at most 1000 (REGTUNE_DATASET_MAX_ROWS)"
    )
