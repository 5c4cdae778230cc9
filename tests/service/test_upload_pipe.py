"""``regtune datasets upload /dev/stdin`` (``cat d.csv |``, or ``<(...)``): a file whose size
is not known before it is read. httpx took a pipe's size from ``fstat`` (0 on Linux), declared
that as the request's length, and broke off once more came: "LocalProtocolError: Too much data
for declared Content-Length", a traceback. Such a file now goes chunked, to its end; the API
holds it to its upload limit as it holds a file of known size.

The requests go through ``h11`` as they would to a socket (httpx's HTTP/1.1 is httpcore's, over
h11), which holds a body to the length its headers declare, then to the API in this process."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h11
import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from regtune.service.cli import output
from regtune.service.cli.app import app
from regtune.service.client.errors import ApiError
from regtune.service.client.http import Client
from tests.inprocess import Apps

LIMIT = 100_000
"""The upload limit of the API that refuses a pipe too long (``REGTUNE_MAX_UPLOAD_BYTES``)."""
ROWS = "x1,x2,y\n" + "".join(f"{i},{i * 7 % 11},{i * 0.5 + (i % 3)}\n" for i in range(60))


class OverH11(httpx.BaseTransport):
    """Each request written out as HTTP/1.1 by h11, as to a socket, then answered by ``api``."""

    def __init__(self, api: TestClient) -> None:
        self.api = api

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        wire = h11.Connection(our_role=h11.CLIENT)
        head = h11.Request(
            method=request.method, target=request.url.raw_path, headers=request.headers.raw
        )
        wire.send(head)
        body = b""
        for chunk in request.stream:  # type: ignore[union-attr]
            wire.send(h11.Data(data=chunk))  # LocalProtocolError: past the declared length
            body += chunk
        wire.send(h11.EndOfMessage())  # LocalProtocolError: short of it
        kept = {k: v for k, v in request.headers.items() if k in ("content-type", "authorization")}
        answer = self.api.request(
            request.method, request.url.raw_path.decode(), content=body, headers=kept
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)


@contextmanager
def piped(data: bytes) -> Iterator[Path]:
    """A pipe's path (``/dev/fd/N``, as ``<(...)`` gives one) that reads ``data``, written by a
    thread as the reader takes it (a pipe's buffer holds 64 KiB)."""
    read, write = os.pipe()

    def feed() -> None:
        with os.fdopen(write, "wb") as writer:
            writer.write(data)

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        yield Path(f"/dev/fd/{read}")
    finally:
        os.close(read)  # a reader that stopped early: the feeder's write fails, and it ends
        feeder.join(timeout=60)


def test_a_dataset_uploaded_from_a_pipe_is_the_one_its_file_gives(
    api: TestClient, tmp_path: Path
) -> None:
    file = tmp_path / "reg.csv"
    file.write_text(ROWS)
    with Client("http://regtune.test", transport=OverH11(api)) as client:
        with piped(ROWS.encode()) as path:
            from_pipe = client.upload_dataset(path, target="y")
        from_file = client.upload_dataset(file, target="y")
    assert (from_pipe.n_rows, from_pipe.n_features) == (60, 2)
    assert from_pipe.id == from_file.id  # the same table: one dataset


def test_regtune_datasets_upload_reads_a_pipe(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def client(url: str | None, *, key: str | None = None, **_: Any) -> Client:
        return Client(url, key=key, transport=OverH11(api))

    monkeypatch.setattr(output, "Client", client)
    with piped(ROWS.encode()) as path:
        args = ["datasets", "upload", str(path), "--target", "y", "--url", "http://regtune.test"]
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert ": 60 rows, 2 features, task regression" in " ".join(result.stdout.split())


def test_a_pipe_past_the_upload_limit_is_told_the_limit(apps: Apps) -> None:
    api = apps(max_upload_bytes=LIMIT)
    rows = (ROWS * (2 * LIMIT // len(ROWS) + 1)).encode()
    client = Client("http://regtune.test", transport=OverH11(api))
    with client, piped(rows) as path, pytest.raises(ApiError) as refused:
        client.upload_dataset(path, target="y")
    assert refused.value.status == 413
    assert str(refused.value) == (
        f"413 too_large: the request body is larger than {LIMIT} bytes (REGTUNE_MAX_UPLOAD_BYTES)"
    )
