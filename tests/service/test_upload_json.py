"""A JSON file is refused as JSON, saying which formats are read and how to save it as one of
them, at upload and at predict (was: read as CSV split at its commas, "the file has 1400
columns; at most 1001", or a target "not in the file (columns: '[')")."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from regtune.service.errors import InvalidUpload
from regtune.service.ingest.encoder import Encoder, Feature
from tests.service.uploads import refusal, upload

SAID = (
    "the file is JSON, not CSV or Parquet: tables are read from CSV (a header of column names, "
    "then a line per row, separated by ',', ';' or tabs) or Parquet; save it as one of them "
    "(pandas: pd.read_json(path).to_csv('data.csv', index=False), with lines=True for JSON "
    "Lines)"
)
RECORDS = [{**{f"k{j}": i * j for j in range(13)}, "y": i % 3} for i in range(100)]


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps(RECORDS).encode(),
        json.dumps(RECORDS[:30]).encode(),
        json.dumps(RECORDS[:30], indent=2).encode(),
        "\n".join(json.dumps(r) for r in RECORDS[:30]).encode(),
        json.dumps({"k0": [1, 2], "y": [3, 4]}, indent=1).encode(),
    ],
    ids=["records on one line", "few records", "indented", "JSON Lines", "an object of columns"],
)
def test_json_is_refused_as_json_at_upload_and_at_predict(api: TestClient, raw: bytes) -> None:
    message, fields = refusal(upload(api, raw, filename="d.json"))
    assert message == SAID
    assert fields == [{"path": "file", "rule": SAID}]
    with pytest.raises(InvalidUpload) as refused:
        Encoder((Feature("k0"),), target="y").read(raw, filename="rows.json")
    assert str(refused.value) == SAID


def test_a_csv_header_that_starts_with_a_bracket_is_still_csv(api: TestClient) -> None:
    x = np.cos(np.arange(30.0))
    raw = pd.DataFrame({"[a]": x, "{b}": -x, "y": 2 * x}).to_csv(index=False).encode()
    assert upload(api, raw)["feature_names"] == ["[a]", "{b}"]
