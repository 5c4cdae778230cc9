"""A codec Python knows that decodes no file is a 422 at ``encoding``, as an unknown name and a
bytes-to-bytes codec (``base64``) are: ``undefined`` (whose every decode raises), and a codec of
domain names (``punycode``) the file is no text of (was: a 500, the codecs' ``UnicodeError``,
which is not the ``UnicodeDecodeError`` caught), at upload and at predict."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from regtune.service.errors import InvalidUpload
from regtune.service.ingest.encoder import Encoder, Feature
from tests.service.uploads import refusal, upload

RULE = (
    "must name a text encoding of Python's codec registry (utf-8, cp1252, latin-1, utf-16, "
    "mac-roman...)"
)


def rows() -> bytes:
    return ("x,y\n" + "".join(f"{i},{2 * i}\n" for i in range(30))).encode()


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("undefined", f"{RULE}, got 'undefined'"),
        (
            "punycode",
            f"{RULE}; punycode cannot decode the file (decoding with 'punycode' codec failed "
            "(UnicodeError: Invalid extended code point ','))",
        ),
    ],
)
def test_a_codec_that_decodes_no_file_is_a_422_at_encoding(
    api: TestClient, name: str, said: str
) -> None:
    message, fields = refusal(upload(api, rows(), encoding=name))
    assert message == f"encoding: {said}"
    assert fields == [{"path": "encoding", "rule": said}]
    assert api.get("/v1/datasets").json()["total"] == 0

    with pytest.raises(InvalidUpload, match=r"^encoding: must name a text encoding") as refused:
        Encoder((Feature("x"),), target="y").read(rows(), filename="rows.csv", encoding=name)
    assert [f.path for f in refused.value.fields] == ["encoding"]
