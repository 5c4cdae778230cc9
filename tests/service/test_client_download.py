"""A download that breaks off leaves nothing behind, however it breaks off: the server's
broken stream (``test_best_model_store``) or the user's Ctrl-C, which left ``model.part``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from regtune.service.client.http import Client


class CtrlC(httpx.SyncByteStream):
    """A model's first bytes, then the user's Ctrl-C."""

    def __iter__(self) -> Iterator[bytes]:
        yield b"\x10\x00\x00\x00"
        raise KeyboardInterrupt


def test_a_download_stopped_by_ctrl_c_leaves_no_partial_file(tmp_path: Path) -> None:
    def answer(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": "4268"}, stream=CtrlC())

    saved = tmp_path / "m.safetensors"
    client = Client("http://regtune.test", transport=httpx.MockTransport(answer))
    with client, pytest.raises(KeyboardInterrupt):
        client.download_best_model("s1", saved)
    assert list(tmp_path.iterdir()) == []
