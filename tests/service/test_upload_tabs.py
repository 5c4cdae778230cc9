"""A tab-separated file (a ``.tsv`` export, a copy from a spreadsheet) is read at upload as the
same data written with commas, and its notes say so (was: refused as "the header is one column
…, so the file looks delimited by tabs"). A file that splits on tabs and on commas alike is
refused naming the rule. A tab file whose numbers show decimal commas (``3,14``, ``1.234,5``) is
read with them, as the same data written with semicolons (was: "column 'x' holds numbers but data
row 4 has text '3,25'", the README's "save it with semicolons"); one that shows both marks is
refused naming a value of each."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from regtune.service.ingest.columns import read_table
from tests.service import uploads
from tests.service.uploads import refusal

N = 40
TAB_NOTE = (
    "the file was read as separated by tabs with decimal points ('3.14'), as tools export .tsv "
    "files and a copy from a spreadsheet gives"
)


upload = functools.partial(uploads.upload, filename="d.tsv")


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = (rng.normal(size=N) * 3000).round(4)
    city = rng.choice(["oslo", "new york, ny"], size=N)
    return pd.DataFrame({"x": x, "city": city, "y": (x / 1000 + rng.normal(size=N)).round(6)})


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_a_tab_file_is_the_same_data(api: TestClient, line_end: str) -> None:
    data = frame()
    commas = data.to_csv(index=False).encode()
    tabs = data.to_csv(index=False, sep="\t", lineterminator=line_end).encode()
    read = upload(api, tabs)
    plain = upload(api, commas)
    assert [c["name"] for c in read["columns"]] == ["x", "city"]
    assert read["columns"] == plain["columns"]
    assert read["task"] == plain["task"] == "regression"
    assert read["target_distribution"] == plain["target_distribution"]
    table = read_table(tabs, filename="d.tsv", target="y")
    np.testing.assert_array_equal(table.X, read_table(commas, filename="d.csv", target="y").X)
    assert read["notes"] == [TAB_NOTE]
    assert plain["notes"] == []


def test_a_file_that_splits_on_tabs_and_commas_is_refused_naming_the_rule(
    api: TestClient,
) -> None:
    raw = ("a\tb,y\n" + "".join(f"{i}\t1,{i % 3}\n" for i in range(N))).encode()
    message, fields = refusal(upload(api, raw))
    assert message == (
        "the separator is ambiguous: the header and first data lines split into 2 fields on ',' "
        "and into 2 on '\\t' (a file is read with the one separator of ',', ';' and a tab on "
        "which its header and first data lines split into the same number of fields (several); "
        "with commas when the header splits on neither ';' nor a tab); save the file with one "
        "separator, commas, semicolons or tabs, and quote any field that holds it"
    )
    assert fields == [{"path": "file", "rule": message}]


def test_a_tab_header_over_rows_of_other_widths_is_refused(api: TestClient) -> None:
    raw = ("x\ty\n" + "".join(f"{i}\t{i}\n" for i in range(N)) + "1\t2\t3\n").encode()
    message, fields = refusal(upload(api, raw))
    assert message.startswith(
        "no separator fits the rows: the header splits into 2 fields on '\\t' but line 42 into 3 ("
    )
    assert fields == [{"path": "file", "rule": message}]


TAB_COMMAS_NOTE = (
    "the file was read as separated by tabs with decimal commas ('3,14' is 3.14; '.', a space "
    "or a no-break space groups thousands: '1.234,5'), as a copy from a spreadsheet gives where "
    "the decimal mark is a comma (a column of its numbers shows them)"
)


def decimal_commas(data: pd.DataFrame) -> pd.DataFrame:
    """Numbers as a spreadsheet copies them where the decimal mark is a comma: ``-1.234,5``."""
    return data.assign(
        x=[f"{v:,.4f}".replace(",", "_").replace(".", ",").replace("_", ".") for v in data["x"]],
        y=[f"{v:.6f}".replace(".", ",") for v in data["y"]],
    )


def test_a_tab_file_with_decimal_commas_is_the_same_data(api: TestClient) -> None:
    data = frame()
    tabs = decimal_commas(data).to_csv(index=False, sep="\t").encode()
    assert b"," in tabs and b"." in tabs  # 1.234,5678: both marks, each in its role
    read = upload(api, tabs)
    plain = upload(api, data.to_csv(index=False).encode())
    assert read["columns"] == plain["columns"]
    assert read["target_distribution"] == plain["target_distribution"]
    assert read["notes"] == [TAB_COMMAS_NOTE]
    table = read_table(tabs, filename="d.tsv", target="y")
    np.testing.assert_allclose(
        table.X, read_table(data.to_csv(index=False).encode(), filename="d.csv", target="y").X
    )


def test_a_tab_file_with_both_decimal_marks_is_refused_naming_both(api: TestClient) -> None:
    data = frame().drop(columns=["city"]).astype(str)
    data.loc[3, "x"] = "3,25"
    message, fields = refusal(upload(api, data.to_csv(index=False, sep="\t").encode()))
    assert message.startswith(
        "the numbers are written with decimal commas, as '3,25' in column 'x' at line 5 "
        "(data row 4), and with decimal points, as '"
    )
    assert "' in column 'x' at line 2 (data row 1), so the thousands" in message
    assert "save the file with semicolons and decimal commas" in message
    assert fields == [{"path": "file", "rule": message}]


def test_text_like_3_5_in_a_tab_file_of_decimal_points_stays_text(api: TestClient) -> None:
    data = frame().assign(size=["3,5" if i % 2 else "M" for i in range(N)])
    read = upload(api, data.to_csv(index=False, sep="\t").encode())
    plain = upload(api, data.to_csv(index=False).encode())
    assert read["columns"] == plain["columns"]
    assert read["notes"] == [TAB_NOTE]


def zero_first(n: int, seed: int) -> pd.DataFrame:
    """Numbers under one, as a spreadsheet copies them where the decimal mark is a comma:
    ``0,274``, ``-0,918``, ``00,123``; ``x`` decides ``y``."""
    rng = np.random.default_rng(seed)
    x, w = rng.uniform(-1, 1, size=n).round(3), rng.uniform(0, 1, size=n).round(3)
    return pd.DataFrame({"x": x, "w": w, "y": np.where(x > 0, "pos", "neg")})


def test_decimal_commas_after_a_zero_in_a_tab_file_are_decimals(api: TestClient) -> None:
    """``0,274`` is no thousands grouping (none starts with a zero), so it reads only with a
    decimal comma (was: 274, the file read with decimal points and no note)."""
    data = zero_first(N, 0)
    written = data.assign(
        x=[f"{v:.3f}".replace(".", ",") for v in data["x"]],
        w=[f"{v:.3f}".replace(".", ",") if i else "00,123" for i, v in enumerate(data["w"])],
    )
    tabs = written.to_csv(index=False, sep="\t").encode()
    assert b"\n0,274\t00,123\t" in tabs and b"\n-0," in tabs
    table = read_table(tabs, filename="d.tsv", target="y")
    expected = data.assign(w=[0.123, *data["w"][1:]])[["x", "w"]].to_numpy()
    np.testing.assert_allclose(table.X, expected)
    assert table.dialect.decimal == ","
    read = upload(api, tabs)
    assert read["notes"] == [TAB_COMMAS_NOTE]
