"""A tab-separated file (a ``.tsv`` export, a copy from a spreadsheet) is read at upload as the
same data written with commas, and its notes say so (was: refused as "the header is one column
…, so the file looks delimited by tabs"). A file that splits on tabs and on commas alike is
refused naming the rule; decimal commas in a tab file stay what a comma file makes of them."""

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
    assert [c["name"] for c in read["columns"]] == ["x", "city"]  # type: ignore[index]
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


def test_a_decimal_comma_in_a_tab_file_is_text_as_in_a_comma_file(api: TestClient) -> None:
    data = frame().drop(columns=["city"]).astype(str)
    data.loc[3, "x"] = "3,25"
    message, _ = refusal(upload(api, data.to_csv(index=False, sep="\t").encode()))
    assert message.startswith("column 'x' holds numbers but data row 4 has text '3,25'")
