"""A download that breaks off leaves nothing behind, however it breaks off: the server's
broken stream (``test_best_model_store``) or the user's Ctrl-C, which left ``model.part``; an
answer that is no model (a captive portal's page) is not saved as one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from regtune.service.api.best_model import OFFERED
from regtune.service.client.best_model import MODEL_TYPES
from regtune.service.client.errors import UnexpectedAnswer
from regtune.service.client.http import Client

MODEL = {"Content-Type": MODEL_TYPES[0]}


class CtrlC(httpx.SyncByteStream):
    """A model's first bytes, then the user's Ctrl-C."""

    def __iter__(self) -> Iterator[bytes]:
        yield b"\x10\x00\x00\x00"
        raise KeyboardInterrupt


def test_a_download_stopped_by_ctrl_c_leaves_no_partial_file(tmp_path: Path) -> None:
    def answer(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=MODEL | {"Content-Length": "4268"}, stream=CtrlC())

    saved = tmp_path / "m.safetensors"
    client = Client("http://regtune.test", transport=httpx.MockTransport(answer))
    with client, pytest.raises(KeyboardInterrupt):
        client.download_best_model("s1", saved)
    assert list(tmp_path.iterdir()) == []


def test_a_page_answered_in_the_apis_place_is_not_saved_as_the_model(tmp_path: Path) -> None:
    """A captive portal or a proxy answering every request ``200 text/html``: the download
    saved its page as the model file, where the other requests said the answer is not the
    API's; the file already there stays as it was."""

    def portal(_: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"Content-Type": "text/html"}, content=b"<html>hello</html>"
        )

    saved = tmp_path / "h.st"
    saved.write_bytes(b"the model saved before")
    with (
        Client("http://127.0.0.1:18231", transport=httpx.MockTransport(portal)) as rt,
        pytest.raises(UnexpectedAnswer) as refused,
    ):
        rt.download_best_model("s1", saved)
    assert str(refused.value) == (
        "GET /v1/studies/s1/best-model: the answer is not what this client expects "
        "(Content-Type text/html, where a model file is "
        "application/vnd.regtune.model+safetensors); is 127.0.0.1 a regtune API of the same "
        "version?"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["h.st"]
    assert saved.read_bytes() == b"the model saved before"


def test_the_client_takes_the_model_as_every_type_the_api_sends_it_as() -> None:
    assert set(MODEL_TYPES) == set(OFFERED) and MODEL_TYPES[0] == OFFERED[0]
