"""What spreadsheets write into a CSV is read as the data it stands for, or refused saying what
the spreadsheet did: lines ended by CR alone (Excel's "CSV (Macintosh)"), trailing columns
without a name or a value (formatted empty cells), ``#N/A`` (a spreadsheet's missing value),
error values (``#DIV/0!``), and numbers as a spreadsheet shows them (``$1,234.50``, ``12%``),
which are text and were one-hot encoded without a word."""

from __future__ import annotations

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient

from tests.service.uploads import refusal, upload

N = 40


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = (rng.normal(size=N) * 30).round(3)
    city = rng.choice(["Tromsø", "Bærum"], size=N)
    return pd.DataFrame({"x": x, "city": city, "y": (x / 10 + rng.normal(size=N)).round(5)})


def text(data: pd.DataFrame) -> str:
    return str(data.to_csv(index=False))


def test_lines_ended_by_cr_alone_are_lines(api: TestClient) -> None:
    """Excel for Mac's "CSV (Macintosh)": CR line ends, Mac Roman text (was: 422 "the header
    line cannot be read as CSV: new-line character seen in unquoted field")."""
    data = frame()
    raw = text(data).replace("\n", "\r").encode("mac-roman")
    assert b"\n" not in raw
    read = upload(api, raw, encoding="mac-roman")
    plain = upload(api, text(data).encode())
    assert read["columns"] == plain["columns"]
    assert read["target_distribution"] == plain["target_distribution"]


def test_trailing_columns_without_name_or_value_are_left_out(api: TestClient) -> None:
    """Formatted empty cells right of the table (was: 422 "column 'column_4' is empty in every
    row")."""
    data = frame()
    raw = text(data).replace("\n", ",,\n").encode()
    read = upload(api, raw)
    plain = upload(api, text(data).encode())
    assert read["columns"] == plain["columns"]
    assert read["notes"] == [
        "column(s) 4, 5 have no name and no value in any row (as a spreadsheet exports "
        "formatted empty cells): left out"
    ]
    named = text(data.assign(extra=np.nan)).encode()  # a named empty column is still refused
    assert refusal(upload(api, named))[0].startswith("column 'extra' is empty in every row")


def test_hash_n_a_is_a_missing_value(api: TestClient) -> None:
    """Excel's NA(), as pandas reads it (was: 422 "holds numbers but data row 4 has text")."""
    data = frame().astype({"x": object})
    data.loc[3, "x"] = "#N/A"
    read = upload(api, text(data).encode())
    assert read["columns"][0]["kind"] == "numeric"
    assert read["missing"]["missing_by_column"] == {"x": 1}


def test_an_error_value_among_numbers_is_named_as_one(api: TestClient) -> None:
    data = frame().astype({"x": object})
    data.loc[3, "x"] = "#DIV/0!"
    message, _ = refusal(upload(api, text(data).encode()))
    assert message == (
        "column 'x' holds numbers but line 5 (data row 4) has text '#DIV/0!'; '#DIV/0!' is a "
        "spreadsheet's error value: fix the formula, or leave the cell empty for a missing value"
    )


def test_a_dash_among_numbers_is_named_as_a_missing_mark_not_read(api: TestClient) -> None:
    data = frame().astype({"x": object})
    data.loc[3, "x"] = "-"
    message, _ = refusal(upload(api, text(data).encode()))
    assert message == (
        "column 'x' holds numbers but line 5 (data row 4) has text '-'; if '-' marks a missing "
        "value, declare it when uploading (missing_values='-', --missing-value '-'; a model reads "
        "the marks its upload declared), or leave the cell empty or write NA (the marks read "
        "without it: an empty cell, NA, N/A, n/a, NaN, nan, null, NULL, None, none, ? and #N/A)"
    )


def test_numbers_shown_with_signs_are_said_to_be_text(api: TestClient) -> None:
    data = frame().head(30)
    shown = data.assign(x=[f"${v:,.2f}" for v in data["x"] * 100])
    read = upload(api, text(shown).encode())
    assert read["columns"][0]["kind"] == "categorical"
    first = read["columns"][0]["categories"][0]
    assert read["notes"] == [
        f"column 'x' holds numbers as a spreadsheet shows them ({first!r}: a currency or percent "
        "sign, a leading apostrophe or a typographic minus), read as text: one-hot encoded as 30 "
        "categories; save them as plain numbers to use them as numbers"
    ]

    many = pd.concat([frame()] * 2, ignore_index=True)
    many = many.assign(x=[f"{v}%" for v in np.arange(len(many))])
    message, _ = refusal(upload(api, text(many).encode()))
    assert message.endswith(
        "; its values are numbers as a spreadsheet shows them ('0%': a currency or percent sign, "
        "a leading apostrophe or a typographic minus), read as text: save them as plain numbers "
        "to use them; to upload the file without it: ignore='x' (--ignore)"
    )

    mixed = data.astype({"x": object})
    mixed.loc[2, "x"] = "12 %"
    message, _ = refusal(upload(api, text(mixed).encode()))
    assert message == (
        "column 'x' holds numbers but line 4 (data row 3) has text '12 %'; '12 %' is a number as a "
        "spreadsheet shows it (a currency or percent sign, a leading apostrophe or a typographic "
        "minus): save the column as plain numbers"
    )


def test_a_first_line_naming_the_separator_names_it(api: TestClient) -> None:
    """Excel writes and reads ``sep=;`` as a CSV's first line (was: 422 "target column 'y' is
    not in the file (columns: 'sep=', 'column_2')", or "no separator fits the rows")."""
    data = frame()
    semicolons = str(data.to_csv(index=False, sep=";", decimal=","))
    read = upload(api, ("sep=;\r\n" + semicolons).encode())
    plain = upload(api, semicolons.encode())
    assert read["columns"] == plain["columns"]
    assert read["notes"] == plain["notes"]
    assert read["target_distribution"] == plain["target_distribution"]
    assert upload(api, ("sep=,\n" + text(data)).encode())["columns"] == plain["columns"]

    message, _ = refusal(upload(api, ("sep=|\n" + text(data).replace(",", "|")).encode()))
    assert message == (
        "the first line names the separator '|' (sep=|); the separators read are ',', ';' and a tab"
    )
