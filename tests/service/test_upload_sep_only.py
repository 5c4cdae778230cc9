"""A file of only Excel's ``sep=;`` line is said to have no header after it, and an empty line
after it to be line 2 (was: "the first line is empty", of a file whose first line is
``sep=;``), at upload and at predict."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from regtune.service.errors import InvalidUpload
from regtune.service.ingest.encoder import Encoder, Feature
from tests.service.uploads import refusal, upload

NO_HEADER = (
    "the file has no header after its sep=; line; the header with column names must follow it"
)
EMPTY_LINE_2 = "line 2, after the sep=; line, is empty; it must be the header with column names"


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        (b"sep=;", NO_HEADER),
        (b"\xef\xbb\xbfsep=;\r\n", NO_HEADER),
        (b"sep=;\n\nx;y\n1;2\n", EMPTY_LINE_2),
        (b"\nx,y\n1,2\n", "the first line is empty; it must be the header with column names"),
    ],
    ids=["sep= alone", "with a BOM and CRLF", "an empty line 2", "no sep= line"],
)
def test_a_file_without_a_header_after_its_sep_line_is_said_to_be_one(
    api: TestClient, raw: bytes, said: str
) -> None:
    message, _ = refusal(upload(api, raw))
    assert message == said
    with pytest.raises(InvalidUpload) as refused:
        Encoder((Feature("x"),), target="y").read(raw, filename="rows.csv")
    assert str(refused.value) == said
