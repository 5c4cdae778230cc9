"""A column an upload cannot take (empty in every row, dates, an id of too many distinct values,
a Parquet timestamp) is refused with the way to upload the file anyway: ``ignore`` that column;
and the upload named so goes through. A target with no value is called the target (was "column
'y' is empty in every row", as for any column)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

N = 60


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=N)
    return pd.DataFrame(
        {
            "x": x,
            "blank": np.nan,
            "day": pd.date_range("2024-01-01", periods=N, freq="D").strftime("%Y-%m-%d"),
            "y": x + rng.normal(size=N),
        }
    )


def upload(api: TestClient, raw: bytes, name: str, **form: object) -> dict[str, object]:
    answer = api.post("/v1/datasets", files={"file": (name, raw)}, data={"target": "y", **form})
    assert answer.status_code in (200, 201, 422), answer.text
    body: dict[str, object] = answer.json()
    return body


def message(body: dict[str, object]) -> str:
    error = body["error"]
    assert isinstance(error, dict)
    return str(error["message"])


def test_a_column_upload_cannot_take_is_refused_naming_ignore(api: TestClient) -> None:
    """Every such column in one answer: it named the first only, so a file with an empty
    column and a column of dates took an upload for each before it was taken."""
    raw = frame().to_csv(index=False).encode()
    refused = upload(api, raw, "d.csv")
    assert message(refused) == (
        "2 columns cannot be uploaded: column 'blank' is empty in every row; column 'day' has "
        "60 distinct text values; at most 50 are one-hot encoded "
        "(REGTUNE_DATASET_MAX_CATEGORIES); its values look like dates ('2024-01-01'); to upload "
        "the file without them: ignore=['blank', 'day'] (--ignore blank --ignore day)"
    )
    assert upload(api, raw, "d.csv", ignore=["blank", "day"])["feature_names"] == ["x"]
    refused = upload(api, raw, "d.csv", ignore=["day"])
    assert message(refused) == (
        "column 'blank' is empty in every row; to upload the file without it: ignore='blank' "
        "(--ignore)"
    )
    refused = upload(api, raw, "d.csv", ignore=["blank"])
    assert "column 'day' has 60 distinct text values" in message(refused)
    assert "look like dates ('2024-01-01')" in message(refused)
    assert message(refused).endswith("ignore='day' (--ignore)")
    taken = upload(api, raw, "d.csv", ignore=["blank", "day"])
    assert taken["feature_names"] == ["x"]


def test_the_columns_refused_are_quoted_for_the_shell(api: TestClient) -> None:
    """Unquoted, ``--ignore no value`` is split by the shell into ``--ignore no`` and ``value``."""
    raw = frame().rename(columns={"blank": "no value"}).to_csv(index=False).encode()
    assert message(upload(api, raw, "d.csv")).endswith(
        "ignore=['no value', 'day'] (--ignore 'no value' --ignore day)"
    )


def test_a_parquet_timestamp_is_refused_naming_ignore(api: TestClient) -> None:
    table = frame().drop(columns=["blank"]).assign(day=pd.date_range("2024", periods=N))
    raw = io.BytesIO()
    table.to_parquet(raw)
    refused = upload(api, raw.getvalue(), "d.parquet")
    assert "column 'day' has Parquet type timestamp" in message(refused)
    assert message(refused).endswith("ignore='day' (--ignore)")
    assert upload(api, raw.getvalue(), "d.parquet", ignore=["day"])["feature_names"] == ["x"]


@pytest.mark.parametrize("cell", ["", "NA"])
def test_a_target_with_no_value_is_called_the_target(api: TestClient, cell: str) -> None:
    raw = ("x,y\n" + "".join(f"{i},{cell}\n" for i in range(N))).encode()
    assert message(upload(api, raw, "d.csv")) == "target column 'y' has no value in any row"


def test_a_file_of_pipes_is_refused_naming_them(api: TestClient) -> None:
    """Tabs are read (``test_upload_tabs``); pipes are a delimiter that is not."""
    raw = frame().drop(columns=["blank", "day"]).to_csv(index=False, sep="|").encode()
    assert message(upload(api, raw, "d.csv")) == (
        "the header is one column ('x|y'), so the file looks delimited by pipes: "
        "use commas, semicolons or tabs"
    )
