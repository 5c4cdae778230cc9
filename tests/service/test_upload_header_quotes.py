"""A quote opened in the header and never closed is refused with the readers' own words for
it, ``EOF inside string starting at line 1`` (the line after a ``sep=`` line: 2), as one in a
row is, at upload and at predict (was: "the file has a header but no data rows": the header's
line was read alone, and the quote swallowed every row after it). A quoted name that goes on
over a line end is read whole, and refused as a name holding a control character (was: the
name cut at the line end and the rows after it lost)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from regtune.service.errors import InvalidUpload
from regtune.service.ingest.encoder import Encoder, Feature
from tests.service.test_upload_csv_lines import reader
from tests.service.uploads import refusal, upload

__all__ = ["reader"]  # the fixture: each upload with pandas, then without

ROWS = b"".join(b"%d,%d\r\n" % (i, 2 * i) for i in range(30))
UNCLOSED = (
    "the CSV cannot be parsed: EOF inside string starting at line {line} (a field that opens "
    "with a quote goes on, over line ends, to the quote that closes it; a quote inside it is "
    'written twice, "")'
)


@pytest.mark.parametrize(
    ("before", "line"), [(b"", 1), (b"sep=,\r\n", 2)], ids=["first line", "after sep="]
)
def test_a_quote_never_closed_in_the_header_is_named_as_such(
    api: TestClient, reader: str, before: bytes, line: int
) -> None:
    raw = before + b'x1,"y\r\n' + ROWS
    message, _ = refusal(upload(api, raw))
    assert message == UNCLOSED.format(line=line), (reader, message)
    with pytest.raises(InvalidUpload) as refused:
        Encoder((Feature("x1"),), target="y").read(raw, filename="rows.csv")
    assert str(refused.value) == UNCLOSED.format(line=line)


def test_a_quoted_name_over_a_line_end_is_read_whole(api: TestClient, reader: str) -> None:
    message, _ = refusal(upload(api, b'x1,"y\r\nz",w\r\n' + ROWS))
    assert message.startswith("the name of column 2 ('y\\r\\nz') holds a control character")
