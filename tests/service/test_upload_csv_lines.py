"""A CSV upload reads alike with pandas and without it (``pip install regtune`` without
extras, the csv module): a row with more fields than the header is refused naming its line in
the file and the rule, counted past Excel's ``sep=`` line (was: one short, counted from the
header), the first row and every row too (was: with pandas, read with their first field as an
index, every column shifted), as is a row whose quote is never closed, and a row with a value
refused (text among numbers, a number out of range, text too long, two decimal marks), each by
the line it starts on (was: its data row); a line of only spaces (and tabs, but in a tab file)
is no row (was: without pandas, a row of missing values), nor does it hide the separator; text
after a closing quote is part of the value, as pandas reads it; a field of any length is read
(was: without pandas, "field larger than field limit")."""

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


def long_row(line: int, sep: bytes) -> str:
    """The 422 of a row of 4 fields under a header of 3 that starts on ``line``."""
    return (
        f"the CSV cannot be parsed: Expected 3 fields in line {line}, saw 4 (the row has 4 "
        "fields, the header 3; a row may have fewer fields than the header, never more: quote a "
        f"field that holds {sep.decode()!r}, and where every line ends with {sep.decode()!r}, end "
        "the header with one too)"
    )


@pytest.mark.parametrize("which", ["every row", "the first row"])
@pytest.mark.parametrize(
    ("sep_line", "sep", "quoted"),
    [
        (b"", b",", False),
        (b"", b",", True),
        (b"sep=;\r\n", b";", False),
        (b"sep=;\r\n", b";", True),
        (b"sep=\t\r\n", b"\t", False),
        (b"sep=\t\r\n", b"\t", True),
        (b"sep=,\r\n", b",", True),
    ],
)
def test_a_first_row_with_a_field_more_than_the_header_is_refused_naming_its_line(
    api: TestClient, reader: str, which: str, sep_line: bytes, sep: bytes, quoted: bool
) -> None:
    """Every row with one field more than the header (``a,city,y`` over ``2i,city,3i,100i``), or
    only the first, is refused naming the first row's line and the rule, in each dialect (a
    quoted field holding the separator, after a ``sep=`` line), with pandas or without it (was:
    with pandas, 201 with each row's first field read as its index, every column shifted and
    ``y`` read from the fourth field; for the first row alone, "the file has 1 rows with a target
    value", the other rows shifted too; without pandas, the message without the rule)."""
    city = b'"Oslo%s NO"' % sep if quoted else b"Oslo"
    lines = [sep.join([b"a", b"city", b"y"])]
    for i in range(30):
        cells = [b"%d" % (2 * i), city, b"%d" % (3 * i)]
        lines.append(
            sep.join([*cells, b"%d" % (100 * i)] if which == "every row" or not i else cells)
        )
    message, fields = refusal(upload(api, sep_line + b"\r\n".join(lines) + b"\r\n"))
    assert message == long_row(3 if sep_line else 2, sep), (reader, message)
    assert fields == [{"path": "file", "rule": message}]


@pytest.mark.parametrize(
    ("sep_line", "sep"),
    [(b"", b","), (b"sep=,\n", b","), (b"sep=;\n", b";"), (b"sep=\t\n", b"\t")],
)
def test_a_separator_ending_every_row_but_not_the_header_is_refused(
    api: TestClient, reader: str, sep_line: bytes, sep: bytes
) -> None:
    """Each row one empty field longer than the header is refused as any longer row is (was: with
    pandas, each row's first field read as its index, ``a`` read from ``x``, ``x`` from ``y``
    and ``y`` empty in every row); with the header ending in the separator too, the empty column
    is left out as a spreadsheet's formatted empty cells are, as the message advises."""
    rows = [sep.join([b"%d" % (i % 5), b"%d" % (i % 7), b"%d" % i, b""]) for i in range(30)]
    header = sep.join([b"a", b"x", b"y"])
    message, _ = refusal(upload(api, sep_line + b"\n".join([header, *rows])))
    assert message == long_row(3 if sep_line else 2, sep), (reader, message)
    body = upload(api, sep_line + b"\n".join([header + sep, *rows]))
    assert body.get("n_rows") == 30 and "no name and no value" in str(body["notes"]), (reader, body)


def test_a_line_of_spaces_is_no_row(api: TestClient, reader: str) -> None:
    body = upload(api, SPACES)
    assert body.get("n_rows") == 30, (reader, body)
    assert body["missing"]["rows_with_missing"] == 0, (reader, body)
    assert body["missing"]["target_missing_rows_dropped"] == 0, (reader, body)
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


QUOTED = [b"sep=;", b"y;x;z", ROWS[0], b"   ", b'1;"a', b'b";2', b"", ROWS[1], ROWS[2], *ROWS[3:]]
"""Line 5 holds a quoted field that goes on on line 6; line 9 is the third row."""


@pytest.mark.parametrize("sep_line", [True, False])
@pytest.mark.parametrize(
    ("fault", "said"),
    [
        (b'4;"5;6', "EOF inside string starting at line 9"),  # a quote never closed
        (ROWS[2] + b";12", "Expected 3 fields in line 9, saw 4"),
        (ROWS[2] + b';"1\r\n2"', "Expected 3 fields in line 9, saw 4"),  # on lines 9 and 10
    ],
)
def test_a_row_that_cannot_be_read_is_named_by_the_line_it_starts_on(
    api: TestClient, reader: str, sep_line: bool, fault: bytes, said: str
) -> None:
    """Counted from the file's first line, its sep= line, a blank line, a line of spaces and
    each line of a quoted field counted (was: pandas' row from 0 for a quote never closed,
    one short per line end inside quotes before it; without pandas the file's last line)."""
    lines = [fault if line == ROWS[2] else line for line in QUOTED]
    if not sep_line:  # the fault past the lines the separator is found on: line 108
        lines = [*lines[1:7], *ROWS[:30], *ROWS[:30], *ROWS[:30], *ROWS[:10], *lines[7:]]
        said = said.replace("line 9", "line 108")
    message, _ = refusal(upload(api, b"\r\n".join(lines) + b"\r\n"))
    assert said in message, (reader, message)


@pytest.mark.parametrize("rows_after", [0, 120])
def test_a_quote_never_closed_among_the_first_lines_is_named_by_its_line(
    api: TestClient, reader: str, rows_after: int
) -> None:
    """Without a ``sep=`` line, a quote never closed on a line the separator is found on gets the
    readers' message naming the line it opens on (was: "no separator fits the rows" when the
    whole file is among those lines), in a file of a few lines as in a long one, and the rule it
    breaks."""
    lines = [b'4;"5;6' if line == ROWS[2] else line for line in QUOTED[1:]]  # on line 8
    message, fields = refusal(upload(api, b"\r\n".join([*lines, *ROWS[:1] * rows_after])))
    assert message == (
        "the CSV cannot be parsed: EOF inside string starting at line 8 (a field that opens with "
        "a quote goes on, over line ends, to the quote that closes it; a quote inside it is "
        'written twice, "")'
    ), reader
    assert fields == [{"path": "file", "rule": message}]


@pytest.mark.parametrize("sep", [b",", b";"])
@pytest.mark.parametrize("blank", [b"\t", b" \t ", b"\t\t"])
def test_a_line_of_tabs_and_spaces_is_no_row_in_a_comma_or_semicolon_file(
    api: TestClient, reader: str, sep: bytes, blank: bytes
) -> None:
    """As a line of only spaces (was: without pandas, a row of missing values and a short row in
    the notes; with pandas, a short row in the notes; in a semicolon file without a ``sep=``
    line, "no separator fits the rows" with pandas or without it)."""
    rows = [b"y;x;z", *(b"%d;%d;%d" % (i, i % 7, i % 3) for i in range(30))]
    lines = [line.replace(b";", sep) for line in rows]
    lines[3:3] = [blank]  # line 4, among the lines the separator is found on
    body = upload(api, b"\r\n".join(lines) + b"\r\n")
    assert body.get("n_rows") == 30, (reader, body)
    without = upload(api, b"\r\n".join(line for line in lines if line != blank) + b"\r\n")
    same = ("n_rows", "columns", "missing", "target_distribution", "notes")
    assert {k: body[k] for k in same} == {k: without[k] for k in same}, reader
    assert not any("fewer fields" in note for note in body["notes"]), body


def test_a_line_of_one_tab_is_a_short_row_of_empty_cells_in_a_tab_file(
    api: TestClient, reader: str
) -> None:
    """There the tab separates two empty cells, as pandas reads it: a short row without its
    target (past the lines the separator is found on, which split as the header does), dropped
    as such, with pandas or without it."""
    lines = [b"y\tx\tz", *(b"%d\t%d\t%d" % (i, i % 7, i % 3) for i in range(120))]
    lines[105:105] = [b"\t"]  # line 106
    body = upload(api, b"\r\n".join(lines) + b"\r\n")
    assert body.get("n_rows") == 120, (reader, body)
    assert body["missing"]["target_missing_rows_dropped"] == 1, (reader, body)
    assert "1 row (line 106) has fewer fields" in str(body["notes"]), (reader, body)


CITIES = [
    b"y;x;city",
    *(b"%d,5;%d;%s" % (i, i % 7, b"Oslo" if i % 2 else b"Bergen") for i in range(30)),
]
"""30 rows with a text column; line 4 is the third row."""


@pytest.mark.parametrize(
    ("written", "read"),
    [(b'"Oslo" NO', b"Oslo NO"), (b'"Oslo"x"y', b'Oslox"y'), (b'  "Bergen",', b"Bergen,")],
)
def test_text_after_a_closing_quote_is_part_of_the_value(
    api: TestClient, reader: str, written: bytes, read: bytes
) -> None:
    """``"Oslo" NO`` is ``Oslo NO``, as pandas reads it and Python's csv module by default (was:
    without pandas, a 422 "';' expected after '"'"), so an upload does not depend on whether
    pandas is installed."""
    lines = [*CITIES[:3], b"2,5;2;" + written, *CITIES[4:]]
    body = upload(api, b"\r\n".join(lines) + b"\r\n")
    assert body.get("n_rows") == 30, (reader, body)
    quoted = b'"' + read.replace(b'"', b'""') + b'"'
    plain = upload(api, b"\r\n".join([*CITIES[:3], b"2,5;2;" + quoted, *CITIES[4:]]))
    same = ("n_rows", "columns", "missing", "target_distribution", "notes")
    assert {k: body[k] for k in same} == {k: plain[k] for k in same}, reader
    city = next(c for c in body["columns"] if c["name"] == "city")
    assert read.decode() in city["categories"], (reader, city)


def test_text_after_a_closing_quote_among_numbers_is_refused_as_text(
    api: TestClient, reader: str
) -> None:
    """``"5"x`` among numbers is the text ``5x``, refused as ``5x`` is, naming the column and the
    row, with pandas or without it."""
    message, _ = refusal(upload(api, b"\r\n".join([*CITIES[:3], b'2,5;"5"x;Oslo', *CITIES[4:]])))
    plain, _ = refusal(upload(api, b"\r\n".join([*CITIES[:3], b"2,5;5x;Oslo", *CITIES[4:]])))
    assert message == plain and "line 4 (data row 3) has text '5x'" in message, (reader, message)


def test_a_row_that_does_not_split_as_the_header_is_named_by_the_line_it_starts_on(
    api: TestClient,
) -> None:
    """Separator detection names the line a row of a quoted field over two lines starts on
    (was: the line it ends on)."""
    lines = [*QUOTED[1:4], b'1;"a', b'b";2;3', *ROWS[1:]]  # the long row on lines 4 and 5
    message, _ = refusal(upload(api, b"\r\n".join(lines) + b"\r\n"))
    assert "splits into 3 fields on ';' but line 4 into 4" in message, message


VALUES = [
    b"sep=;",
    b"y;x;city",
    b"0,5;0;Oslo",
    b"   ",
    b'1,5;1;"Oslo',
    b'North"',
    b"",
    b"2,5;2;Bergen",
    *(b"%d,5;%d;%s" % (i, i % 7, b"Oslo" if i % 2 else b"Bergen") for i in range(3, 30)),
]
"""30 rows with a text column; line 4 is only spaces, the second row is on lines 5 and 6, line 7
is blank, line 8 is the third row."""


@pytest.mark.parametrize("sep_line", [True, False])
@pytest.mark.parametrize(
    ("fault", "said"),
    [
        (b"2,5;5x;Bergen", "column 'x' holds numbers but line 8 (data row 3) has text '5x'"),
        (
            b"2,5;1e300;Bergen",
            "column 'x' has a value out of range at line 8 (data row 3) (1e+300; |x| must be ≤ "
            "1e+100)",
        ),
        (
            b"2,5;2;" + b"B" * 1001,
            "column 'city' has a text value of 1001 characters at line 8 (data row 3); text "
            "values are categories of at most 1000 characters",
        ),
        (
            b"2.5;2;Bergen",
            "column 'y' mixes numbers that read only with a decimal comma, as '0,5' at line 3 "
            "(data row 1), and only with a decimal point, as '2.5' at line 8 (data row 3);",
        ),
    ],
)
def test_a_refused_value_is_named_by_the_line_its_row_starts_on(
    api: TestClient, reader: str, sep_line: bool, fault: bytes, said: str
) -> None:
    """The line a user goes to in an editor: the sep= line, a line of spaces, a blank line and
    each line of a quoted field before it counted, with pandas or without it (was: "data row
    3", line 8 of the file)."""
    lines = [fault if line == b"2,5;2;Bergen" else line for line in VALUES]
    if not sep_line:
        lines = lines[1:]
        said = said.replace("line 8", "line 7").replace("line 3", "line 2")
    message, fields = refusal(upload(api, b"\r\n".join(lines) + b"\r\n"))
    assert message.startswith(said), (reader, message)
    assert fields == [{"path": "file", "rule": message}]


def test_two_decimal_marks_in_a_tab_file_are_named_by_their_lines(
    api: TestClient, reader: str
) -> None:
    """A tab file (its decimal mark chosen by its numbers) that shows both marks names each
    value's line (was: their data rows)."""
    lines = [line.replace(b";", b"\t") for line in VALUES[1:]]
    lines[6] = b"2.5\t2\tBergen"  # line 7, the third row
    message, _ = refusal(upload(api, b"\r\n".join(lines) + b"\r\n"))
    assert message.startswith(
        "the numbers are written with decimal commas, as '0,5' in column 'y' at line 2 "
        "(data row 1), and with decimal points, as '2.5' in column 'y' at line 7 (data row 3),"
    ), (reader, message)


LONG = 140_000
"""Characters of a field, over the csv module's default limit (131,072)."""


@pytest.mark.parametrize("sep_line", [True, False])
@pytest.mark.parametrize("over_lines", [False, True])
def test_a_field_over_the_csv_modules_limit_is_refused_as_long_text_or_left_out(
    api: TestClient, reader: str, sep_line: bool, over_lines: bool
) -> None:
    """A quoted text of 140,000 characters (on one line, or over many) is refused by the rule a
    category breaks, naming its line, with pandas or without it (was: without pandas "field
    larger than field limit (131072) (line N)" naming the line it ends on, and among the lines
    the separator is found on, "the first lines cannot be read" with pandas or without it); in
    an ignored column it is read and left out, with pandas or without it."""
    text = b"ab\r\n" * (LONG // 4 - 1) + b"abab" if over_lines else b"B" * LONG
    lines = [b'2,5;2;"' + text + b'"' if line == b"2,5;2;Bergen" else line for line in VALUES]
    line = 8 if sep_line else 7
    raw = b"\r\n".join(lines if sep_line else lines[1:]) + b"\r\n"
    message, _ = refusal(upload(api, raw))
    assert message == (
        f"column 'city' has a text value of {LONG} characters at line {line} (data row 3); "
        "text values are categories of at most 1000 characters"
    ), (reader, message[:300])
    body = upload(api, raw, ignore="city")
    assert body.get("n_rows") == 30, (reader, str(body)[:300])
