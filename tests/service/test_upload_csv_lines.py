"""A CSV upload reads alike with pandas and without it (``pip install regtune`` without
extras, the csv module): a row with more fields than the header is refused naming its line in
the file, counted past Excel's ``sep=`` line (was: one short, counted from the header), and a
line of only spaces is no row (was: without pandas, a row of missing values)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.service.uploads import refusal, upload

ROWS = [b"%d,5;%d;%d" % (i, i % 7, i % 3) for i in range(30)]
SPACES = b"\r\n".join([b"sep=;", b"y;x;z", ROWS[0], b"   ", *ROWS[1:]]) + b"\r\n"
"""30 rows; line 4 is only spaces, line 6 is the third row."""


@pytest.fixture(params=["pandas", "csv module"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each upload read by pandas' parser, then again without pandas."""
    if request.param == "csv module":
        for name in ("pandas", "pyarrow"):
            monkeypatch.setitem(sys.modules, name, None)
    yield request.param


def test_a_row_with_too_many_fields_is_named_by_its_line_after_a_sep_line(
    api: TestClient, reader: str
) -> None:
    long_row = SPACES.replace(ROWS[2], ROWS[2] + b";12")  # line 6 of the file
    message, _ = refusal(upload(api, long_row))
    assert "Expected 3 fields in line 6, saw 4" in message, (reader, message)
    # without the sep= line, past the lines the separator is found on: line 121
    rows = [b"y;x;z", *(b"%d,5;%d;3" % (i, i) for i in range(120))]
    rows[120] += b";12"
    message, _ = refusal(upload(api, b"\r\n".join(rows) + b"\r\n"))
    assert "Expected 3 fields in line 121, saw 4" in message, (reader, message)


def test_a_line_of_spaces_is_no_row(api: TestClient, reader: str) -> None:
    body = upload(api, SPACES)
    assert body.get("n_rows") == 30, (reader, body)
    assert body["missing"]["rows_with_missing"] == 0, (reader, body)  # type: ignore[index]
    assert body["missing"]["target_missing_rows_dropped"] == 0, (reader, body)  # type: ignore[index]
    without = upload(api, SPACES.replace(b"   \r\n", b""))
    same = ("n_rows", "columns", "missing", "target_distribution", "notes")
    assert {k: body[k] for k in same} == {k: without[k] for k in same}, reader


@pytest.mark.parametrize("sep", [b";", b"\t"])
def test_a_line_of_spaces_among_the_first_lines_does_not_hide_the_separator(
    api: TestClient, reader: str, sep: bytes
) -> None:
    """Without a ``sep=`` line the separator is found on the first lines, which pass over a
    blank line and a line of spaces as the readers do (was: "no separator fits the rows")."""
    lines = SPACES.replace(b";", sep).split(b"\r\n")[1:]  # no sep= line: line 3 is spaces
    lines.insert(5, b"")
    body = upload(api, b"\r\n".join(lines))
    assert body.get("n_rows") == 30, (reader, body)
    without = upload(api, b"\r\n".join(line for line in lines if line.strip()))
    same = ("n_rows", "columns", "missing", "target_distribution", "notes")
    assert {k: body[k] for k in same} == {k: without[k] for k in same}, reader
