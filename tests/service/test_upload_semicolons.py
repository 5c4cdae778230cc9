"""A CSV separated by semicolons with decimal commas, as spreadsheets write it where the decimal
mark is a comma (R's ``read.csv2``), is read at upload as the same data written with commas and
decimal points (was: refused as "looks delimited by semicolons: use commas"). A file that splits
both ways, and a column that needs both decimal marks, are refused naming the rule."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from regtune.service.errors import InvalidUpload
from regtune.service.ingest.columns import read_table
from regtune.service.ingest.encoder import Encoder, Feature
from tests.service.uploads import refusal, upload

N = 40


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=N) * 3000
    return pd.DataFrame(
        {"x": x, "city": rng.choice(["oslo", "bergen"], size=N), "y": x / 1000 + rng.normal(size=N)}
    )


def grouped(value: float, group: str) -> str:
    """``value`` as a spreadsheet in a decimal-comma locale writes it: ``-1.234,56``."""
    written = f"{value:,.6f}".replace(",", "_").replace(".", ",")
    return written.replace("_", group)


@pytest.mark.parametrize("group", ["", ".", " ", "\u00a0"])
def test_a_semicolon_file_with_decimal_commas_is_the_same_data(api: TestClient, group: str) -> None:
    data = frame()
    commas = data.round(6).to_csv(index=False).encode()
    semicolons = data.round(6).assign(x=[grouped(v, group) for v in data["x"]])
    raw = semicolons.to_csv(index=False, sep=";", decimal=",").encode()
    assert group == "" or any(group in v for v in semicolons["x"])
    read = upload(api, raw)
    plain = upload(api, commas)
    assert read["columns"] == plain["columns"]
    assert read["target_distribution"] == plain["target_distribution"]
    table = read_table(raw, filename="d.csv", target="y")
    np.testing.assert_array_equal(table.X, read_table(commas, filename="d.csv", target="y").X)
    assert read["notes"] == [
        "the file was read as separated by semicolons with decimal commas ('3,14' is 3.14; '.', a "
        "space or a no-break space groups thousands: '1.234,5'), as spreadsheets write CSV where "
        "the decimal mark is a comma"
    ]
    assert plain["notes"] == []


@pytest.fixture(params=[True, False], ids=["pandas", "no-pandas"])
def pandas_installed(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Predict reads a file with pandas, or without it (``pip install regtune``)."""
    if not request.param:
        for name in ("pandas", "pyarrow"):
            monkeypatch.setitem(sys.modules, name, None)
    return bool(request.param)


@pytest.mark.usefixtures("pandas_installed")
def test_decimal_comma_forms_are_numbers() -> None:
    encoder = Encoder((Feature("x"),))
    raw = "x;other\n3,14;a\n-0,5;a\n1.234,56;a\n1 234,56;a\n1\u00a0234;a\n12;a\n;a\n".encode()
    rows = encoder.read(raw, filename="rows.csv")
    np.testing.assert_array_equal(rows.X[:, 0], [3.14, -0.5, 1234.56, 1234.56, 1234, 12, np.nan])
    rows = encoder.read(b"x;other\n4,2e-05;a\n-1,5E+03;a\n7;a\n", filename="rows.csv")
    np.testing.assert_array_equal(rows.X[:, 0], [4.2e-05, -1500.0, 7.0])


def test_a_file_that_splits_on_both_separators_is_refused_naming_the_rule(
    api: TestClient,
) -> None:
    raw = ("a;b,y\n" + "".join(f"{i};1,{i % 3}\n" for i in range(N))).encode()
    message, fields = refusal(upload(api, raw))
    assert message == (
        "the separator is ambiguous: the header and first data lines split into 2 fields on ',' "
        "and into 2 on ';' (a file is read with the one separator of ',', ';' and a tab on which "
        "its header and first data lines split into the same number of fields (several); with "
        "commas when the header splits on neither ';' nor a tab); save the file with one "
        "separator, commas, semicolons or tabs, and quote any field that holds it"
    )
    assert fields == [{"path": "file", "rule": message}]


def test_a_semicolon_header_over_rows_of_other_widths_is_refused() -> None:
    encoder = Encoder((Feature("x"),))
    with pytest.raises(InvalidUpload, match=r"splits into 2 fields on ';' but line 3 into 3 \("):
        encoder.read(b"x;y\n1;2\n1;2;3\n", filename="rows.csv")


def test_a_comma_file_with_a_semicolon_in_a_name_is_still_read_with_commas(
    api: TestClient,
) -> None:
    data = frame().drop(columns=["city"]).rename(columns={"x": "price;eur"})
    read = upload(api, data.to_csv(index=False).encode())
    assert [c["name"] for c in read["columns"]] == ["price;eur"]
    assert read["notes"] == []


def test_a_column_needing_both_decimal_marks_is_refused(api: TestClient) -> None:
    data = frame().drop(columns=["city"]).astype(str)
    data.loc[3, "x"] = "3,25"
    data.loc[5, "x"] = "0.5"
    raw = data.to_csv(index=False, sep=";").encode()
    message, fields = refusal(upload(api, raw))
    assert message.startswith(
        "column 'x' mixes numbers that read only with a decimal comma, as '3,25' at line 5 "
        "(data row 4), and only with a decimal point, as '"
    )
    assert "' at line 2 (data row 1); write" in message
    assert message.endswith("write every number of a column with the same decimal mark")
    assert fields == [{"path": "file", "rule": message}]


@pytest.mark.usefixtures("pandas_installed")
def test_decimal_points_in_a_semicolon_file_read_as_decimal_points() -> None:
    """A column written with decimal points only (pandas' ``to_csv(sep=";")``) keeps them, and
    a column of ``1.234`` alone beside it reads with them too (was: 1234); a model of decimal
    commas saved before the marks were kept reads each column by its own numbers, as it did."""
    raw = b"a;b\n1.5;1.234\n1.234;2\n"
    with pytest.warns(UserWarning, match="column 'b' shows no decimal mark of its own"):
        rows = Encoder((Feature("a"), Feature("b"))).read(raw, filename="rows.csv")
    np.testing.assert_array_equal(rows.X, [[1.5, 1.234], [1.234, 2.0]])
    before = Encoder((Feature("a"), Feature("b")), decimal=",")
    np.testing.assert_array_equal(
        before.read(raw, filename="rows.csv").X, [[1.5, 1234.0], [1.234, 2.0]]
    )


def test_a_quoted_decimal_comma_in_a_comma_file_stays_text() -> None:
    encoder = Encoder((Feature("x"),))
    with pytest.raises(InvalidUpload, match="column 'x' held numbers"):
        encoder.read(b'x,y\n"3,14",1\n', filename="rows.csv")


def test_a_column_of_decimal_points_in_a_semicolon_file_is_said(api: TestClient) -> None:
    data = frame().round(4)
    raw = data.to_csv(index=False, sep=";").encode()  # pandas' own: ';' and decimal points
    read = upload(api, raw)
    plain = upload(api, data.to_csv(index=False).encode())
    assert read["target_distribution"] == plain["target_distribution"]
    x, y = (repr(float(data[c][0])) for c in ("x", "y"))
    assert read["notes"][1:] == [
        f"column 'x' is written with decimal points ('{x}'), so its numbers were read with them",
        f"column 'y' is written with decimal points ('{y}'), so its numbers were read with them",
    ]


def test_a_quoted_decimal_comma_category_binds_from_a_semicolon_file() -> None:
    """A comma file's quoted ``"2,5"`` is a category; rows written with semicolons, where
    ``2,5`` is a number, bind to it (was: unseen ``'2.5'``, encoded as no category)."""
    encoder = Encoder((Feature("size", ("2,5", "3")),))
    rows = encoder.read(b"size;other\n2,5;a\n3;a\n", filename="rows.csv")
    np.testing.assert_array_equal(rows.X, [[1.0, 0.0], [0.0, 1.0]])
    assert rows.unknown == {}


@pytest.mark.usefixtures("pandas_installed")
def test_decimal_points_after_a_zero_in_a_semicolon_file_are_decimals() -> None:
    """``0.857`` is no thousands grouping (none starts with a zero), so a column of it and
    ``2.415``, as ``to_csv(sep=";", float_format="%.3f")`` writes them, reads with decimal
    points (was: 857 and 2415)."""
    raw = b"a;y\n2.415;1\n0.857;2\n-0.042;1\n1.500;2\n"
    rows = Encoder((Feature("a"),)).read(raw, filename="rows.csv")
    np.testing.assert_array_equal(rows.X[:, 0], [2.415, 0.857, -0.042, 1.5])
    assert Encoder((Feature("a"),)).read(b"a;y\n1.234;1\n", filename="r.csv").X[0, 0] == 1234
