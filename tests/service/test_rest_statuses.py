"""A body that cannot be parsed at all is a 400 naming the body, whatever the route."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize(
    ("path", "body", "content_type", "said"),
    [
        ("/v1/keys", b'{"tenant": ', "application/json", "the body is not valid JSON: "),
        ("/v1/keys", b'{"tenant": "\xff"}', "application/json", "'utf-8' codec can't decode"),
        ("/v1/datasets", b"a,b\n", "multipart/form-data; boundary=b", "Invalid multipart data"),
        ("/v1/studies", b"{", "application/json", "the body is not valid JSON: "),
    ],
)
def test_a_body_that_cannot_be_parsed_is_a_400_naming_the_body(
    api: TestClient, path: str, body: bytes, content_type: str, said: str
) -> None:
    """As ``POST /v1/studies`` answers it (was, for ``POST /v1/keys``: a 422 whose field was the
    character's offset, ``1: JSON decode error``; for a multipart body, no field at all)."""
    answer = api.post(path, content=body, headers={"content-type": content_type})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "unparseable_body", error
    assert [f["path"] for f in error["fields"]] == ["body"], error
    assert said in error["message"], error
