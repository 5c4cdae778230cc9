"""A row with fewer fields than the header (a lost separator) is read with missing cells at its
end, as pandas and R read it, and the upload's ``notes`` say how many rows were and on which
lines (was: nothing, so the row's values were silently missing). Read with pandas or without
it (``pip install regtune`` without extras), a file gives the same columns and the same note."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from regtune.service.ingest.csv_file import read_csv
from regtune.service.ingest.header import Limits
from tests.inprocess import cli_output
from tests.service.uploads import upload

N = 30


def rows(*, sep: str = ",", short: dict[int, str], first: str = "") -> bytes:
    """``y``, ``x``, ``city`` (a quoted separator in it) and ``z``; data row i (from 0) is
    ``short[i]`` where given; a blank line after the header."""
    lines = [f"y{sep}x{sep}city{sep}z", ""]
    for i in range(N):
        city = f'"Oslo{sep} NO"' if i % 2 else "Bergen"
        lines.append(short.get(i, f"{i * 0.5}{sep}{i % 7}{sep}{city}{sep}{i % 3}"))
    return (first + "\r\n".join(lines) + "\r\n").encode()


SHORT = {
    3: "1.5,2,Bergen",  # z lost
    7: '2.5,4,"Oslo, NO"',  # a quoted comma: three fields, z lost
    20: "3.5",
}
NOTE = (
    "3 rows (lines 6, 10, 23) have fewer fields than the header: the missing ones at their end "
    "were read as missing values; if a separator was lost there, correct the file and upload it "
    "again"
)


def test_short_rows_are_read_with_missing_cells_and_said_in_the_notes(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    raw = rows(short=SHORT)
    body = upload(api, raw)
    assert NOTE in body["notes"], body
    path = tmp_path / "short.csv"
    path.write_bytes(raw)
    said = cli_output(api, monkeypatch, "datasets", "upload", str(path), "--target", "y")
    assert f"note: {NOTE}" in said, said

    one = upload(api, rows(short={0: "0,1,Bergen"}))
    assert "1 row (line 3) has fewer fields than the header: the missing ones at its end" in str(
        one["notes"]
    ), one
    # formatted empty cells after the header's last name, which the rows do not write: left
    # out, nothing of a row is missing
    trailing = rows(short={}).replace(b"y,x,city,z\r\n", b"y,x,city,z,,\r\n", 1)
    said_of_it = str(upload(api, trailing)["notes"])
    assert "no name and no value" in said_of_it and "fewer fields" not in said_of_it, said_of_it
    whole = upload(api, rows(short={}))
    assert not any("fewer fields" in note for note in whole["notes"]), whole


def test_the_lines_are_the_files_after_a_sep_line_and_past_the_fifth_are_counted(
    api: TestClient,
) -> None:
    many = {i: f"{i};1;Bergen" for i in range(0, 14, 2)}  # 7 short rows of a semicolon file
    body = upload(api, rows(sep=";", short=many, first="sep=;\r\n"))
    assert "7 rows (lines 4, 6, 8, 10, 12, …) have fewer fields than the header" in str(
        body["notes"]
    ), body


@pytest.mark.parametrize("quotes", ["well placed", "an inch mark"])
def test_without_pandas_the_columns_and_the_note_are_the_same(
    monkeypatch: pytest.MonkeyPatch, quotes: str
) -> None:
    short = dict(SHORT)
    if quotes == "an inch mark":  # a quote inside a field: counted by the csv module
        short[5] = '5",1,Bergen,2'
    raw = rows(short=short)

    def read() -> tuple[list[str], list[list[object]], list[str]]:
        names, columns, dialect = read_csv(raw, target="y", limits=Limits())
        cells = [
            [None if v is None or v != v else v for v in np.asarray(c, dtype=object)]
            for c in columns
        ]
        return names, cells, dialect.notes

    with_pandas = read()
    with monkeypatch.context() as patch:
        for name in ("pandas", "pyarrow"):
            patch.setitem(sys.modules, name, None)
        plain = read()
    assert NOTE in with_pandas[2] and plain[2] == with_pandas[2], (plain[2], with_pandas[2])
    assert plain[0] == with_pandas[0] == ["y", "x", "city", "z"]
    z_with, z_plain = with_pandas[1][3], plain[1][3]
    assert [i for i, v in enumerate(z_with) if v is None] == [3, 7, 20]
    assert [i for i, v in enumerate(z_plain) if v is None] == [3, 7, 20]
