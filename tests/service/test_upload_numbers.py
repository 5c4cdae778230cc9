"""Numbers as spreadsheets write them, thousands grouped by commas (``"1,234.50"``), are numbers
at upload and at predict, with pandas or without (was: text, so a column of fewer than 50 such
values was one-hot encoded as categories without a word, and a longer one was refused as "100
distinct text values"). ``"2,5"`` (not groups of three) stays text."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from regtune.service.errors import InvalidUpload
from regtune.service.ingest.columns import read_table
from regtune.service.ingest.encoder import Encoder, Feature

ROWS = 30


def spreadsheet() -> bytes:
    rng = np.random.default_rng(0)
    income = rng.choice([1_200, 15_000, 48_500, 1_250_000], size=ROWS)
    x = rng.normal(size=ROWS)
    price = income / 100 + x
    frame = pd.DataFrame(
        {
            "x": x,
            "income": [f"{v:,}" for v in income],
            "price": [f"{v:,.2f}" for v in price],
        }
    )
    return frame.to_csv(index=False).encode()


def test_grouped_thousands_are_numbers_at_upload() -> None:
    raw = spreadsheet()
    assert b'"1,250,000"' in raw
    table = read_table(raw, filename="sheet.csv", target="price")
    assert table.feature_names == ["x", "income"]
    assert table.task == "regression"
    frame = pd.read_csv(pd.io.common.BytesIO(raw), thousands=",")
    np.testing.assert_array_equal(table.X[:, 1], frame["income"].to_numpy(dtype=float))
    np.testing.assert_allclose(table.y, frame["price"].to_numpy(dtype=float))


@pytest.mark.parametrize("pandas_installed", [True, False])
def test_grouped_thousands_are_numbers_at_predict(
    monkeypatch: pytest.MonkeyPatch, pandas_installed: bool
) -> None:
    if not pandas_installed:
        for name in ("pandas", "pyarrow"):
            monkeypatch.setitem(sys.modules, name, None)
    encoder = Encoder((Feature("income"),))
    rows = encoder.read(b'income\n"1,234"\n1234\n"-12,345,678.5"\n', filename="rows.csv")
    np.testing.assert_array_equal(rows.X[:, 0], [1234.0, 1234.0, -12_345_678.5])
    with pytest.raises(InvalidUpload, match="column 'income' held numbers"):
        encoder.read(b'income\n"2,5"\n', filename="rows.csv")


@pytest.mark.parametrize("pandas_installed", [True, False])
def test_a_quoted_decimal_comma_after_a_zero_stays_text(
    monkeypatch: pytest.MonkeyPatch, pandas_installed: bool
) -> None:
    """``"0,274"`` in a comma file is a decimal comma, never thousands (no grouping starts with
    a zero), so it stays text as ``"3,14"`` does (was: 274)."""
    if not pandas_installed:
        for name in ("pandas", "pyarrow"):
            monkeypatch.setitem(sys.modules, name, None)
    encoder = Encoder((Feature("x"),))
    for written in ("0,274", "-0,007", "00,123"):
        with pytest.raises(InvalidUpload, match="column 'x' held numbers"):
            encoder.read(f'x\n"{written}"\n'.encode(), filename="rows.csv")


def test_a_dataframe_of_decimal_comma_text_after_a_zero_uploads_as_text() -> None:
    """``Client.upload_dataset(frame)`` sends a comma file: ``'0,034'`` stays text, as the
    README's ``"3,14"`` does (was: the number 34)."""
    from regtune.service.client.table import frame_csv

    values = [f"0,{i:03d}" for i in range(ROWS)]
    frame = pd.DataFrame({"share": values, "y": np.arange(ROWS) % 2})
    table = read_table(frame_csv(frame, target="y", ignore=()), filename="f.csv", target="y")
    assert table.columns[0]["kind"] == "categorical"
    assert table.columns[0]["categories"] == sorted(values)
