"""A body without a declared length (``Transfer-Encoding: chunked``, as httpx sends a generator
and curl ``-T -`` a pipe) is held to the limit as a declared one is, through a real uvicorn:
over it, a 413 naming the limit before any route runs, whatever the route (was: a route that
takes no body answered as if none came, reading the rest however long; a definition over the
limit in one piece hung until the client gave up); within it, the route reads it as sent."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from regtune.service.spec.definition import EXAMPLE
from tests.service.uploads import STREAMED_END, STREAMED_HEAD, STREAMED_HEADERS
from tests.support import Processes, Stack

LIMIT = 2_000
"""The API's ``REGTUNE_MAX_BODY_BYTES``."""
UPLOAD_LIMIT = 1_000_000
"""The API's ``REGTUNE_MAX_UPLOAD_BYTES``."""


def chunked(*pieces: bytes) -> Iterator[bytes]:
    """A body httpx sends chunked, without a length."""
    yield from pieces


def too_large(response: httpx.Response, setting: str) -> None:
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert response.status_code == 413, response.text[:300]
    error = response.json()["error"]
    assert error["code"] == "too_large" and setting in error["message"], error
    assert error["fields"] == [{"path": "body", "rule": error["message"]}]


@pytest.fixture
def stack(processes: Processes, sqlite_url: str) -> Stack:
    return processes.stack(
        sqlite_url,
        REGTUNE_MAX_BODY_BYTES=str(LIMIT),
        REGTUNE_MAX_UPLOAD_BYTES=str(UPLOAD_LIMIT),
    ).start_api()


def test_a_chunked_body_over_the_limit_is_refused_before_a_route_that_takes_none(
    stack: Stack,
) -> None:
    """A 413 as a declared length over the limit gets, and nothing is changed: the study a
    ``DELETE`` or ``cancel`` with such a body names is still there, queued."""
    study = stack.submit({**EXAMPLE, "name": "kept"})
    over = [b"x" * 1_000] * 3
    with stack.client() as http:
        for method, path in [
            ("GET", "/v1/studies"),
            ("DELETE", f"/v1/studies/{study['id']}"),
            ("POST", f"/v1/studies/{study['id']}/cancel"),
            ("GET", "/healthz"),
        ]:
            too_large(http.request(method, path, content=chunked(*over)), "REGTUNE_MAX_BODY_BYTES")
            declared = http.request(method, path, content=b"".join(over))
            assert declared.status_code == 413, (method, path, declared.text)
        assert http.get(f"/v1/studies/{study['id']}").json()["status"] == "queued"
        # within the limit, a route that takes no body answers as ever
        within = http.request("GET", "/v1/studies", content=chunked(b"x" * 1_000))
        assert within.status_code == 200, within.text


def test_a_chunked_definition_is_read_within_the_limit_and_refused_over_it(
    stack: Stack,
) -> None:
    """Over the limit in one piece (its end came with it) or in many, a 413; within it, the
    study is created from the body as sent."""
    definition = json.dumps({**EXAMPLE, "name": "chunked"}).encode()
    assert len(definition) < LIMIT
    with stack.client() as http:
        head = {"Content-Type": "application/json"}
        created = http.post("/v1/studies", content=chunked(definition[:100], definition[100:]))
        assert created.status_code == 201, created.text
        assert created.json()["name"] == "chunked"
        padded = json.dumps({**EXAMPLE, "padding": "x" * LIMIT}).encode()
        too_large(http.post("/v1/studies", content=chunked(padded), headers=head), "BODY")
        pieces = [padded[i : i + 100] for i in range(0, len(padded), 100)]
        too_large(http.post("/v1/studies", content=chunked(*pieces), headers=head), "BODY")
        assert [s["name"] for s in http.get("/v1/studies").json()["items"]] == ["chunked"]


def test_a_chunked_upload_over_the_limit_is_refused_without_reading_it_all(
    stack: Stack,
) -> None:
    """The 413 comes once the limit is passed (and a little more read, so that a client that
    sends on hears it), and the connection is closed: the rest of an endless body is never
    read (was: read to its end and dropped); a file within the limit is uploaded."""
    rows = b"".join(b"%d,%d\n" % (i, i % 7) for i in range(100))
    sent = 0
    total = 100 * UPLOAD_LIMIT  # more than the limit, the drain and the sockets' buffers hold

    def endless() -> Iterator[bytes]:
        nonlocal sent
        yield STREAMED_HEAD
        chunk = b"1,2\n" * 16_384
        while sent < total:
            sent += len(chunk)
            yield chunk
        yield STREAMED_END

    with stack.client() as http:
        response = http.post("/v1/datasets", content=endless(), headers=STREAMED_HEADERS)
        too_large(response, "REGTUNE_MAX_UPLOAD_BYTES")
        assert sent < total / 2, f"the API read {sent} bytes of a body over {UPLOAD_LIMIT}"
        # a wrong content type does not make the route skip the limit
        wrong = http.post("/v1/datasets", content=chunked(b"x" * (UPLOAD_LIMIT + 1)))
        too_large(wrong, "REGTUNE_MAX_UPLOAD_BYTES")
        uploaded = http.post(
            "/v1/datasets",
            content=chunked(STREAMED_HEAD, rows, STREAMED_END),
            headers=STREAMED_HEADERS,
        )
        assert uploaded.status_code == 201, uploaded.text
        assert uploaded.json()["n_rows"] == 100
