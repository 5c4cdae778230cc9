"""Uploading bytes through the API and reading what it refused: shared by the upload tests."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

BOUNDARY = "regtune-test-boundary"
STREAMED_HEADERS = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
"""The headers of a multipart upload written by hand (``STREAMED_HEAD``, rows, ``STREAMED_END``),
sent as a stream of chunks: no Content-Length."""
STREAMED_HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="target"\r\n\r\ny\r\n'
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
    "Content-Type: text/csv\r\n\r\nx1,y\r\n"
).encode()
"""The form up to the file's first row: target ``y``, a CSV file of columns ``x1,y``."""
STREAMED_END = f"\r\n--{BOUNDARY}--\r\n".encode()


def upload(
    api: TestClient, raw: bytes, *, filename: str = "d.csv", **form: object
) -> dict[str, Any]:
    """POST ``raw`` as a dataset with target ``y`` (or ``form``'s): its 201 or 422 body."""
    answer = api.post("/v1/datasets", files={"file": (filename, raw)}, data={"target": "y", **form})
    assert answer.status_code in (201, 422), answer.text
    body: dict[str, Any] = answer.json()
    return body


def refusal(body: dict[str, object]) -> tuple[str, list[object]]:
    """A 422 body's message and fields."""
    error = body["error"]
    assert isinstance(error, dict)
    return str(error["message"]), list(error["fields"])
