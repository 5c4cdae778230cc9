"""A definition is sent as it is: a ``str`` is its text, a ``Path`` is a file (issue 22, item 14).

The client talks to an ``httpx.MockTransport`` that records what it was sent and answers as the
API answers a definition it refuses, or to the API in this process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from regtune.service.cli import output
from regtune.service.cli.app import app
from regtune.service.client.http import ApiError, Client
from tests.service.test_client_optuna import ThroughApp

REFUSED = {"error": {"code": "invalid_definition", "message": "recorded", "fields": []}}


def one_line_definition() -> str:
    """What ``json.dumps`` writes: one line, here well over 255 characters."""
    text = json.dumps(
        {
            "name": "one-line-" + "x" * 40,
            "dataset": {"builtin": "diabetes"},
            "model": {"kind": "mlp", "hidden_layers": [64, 64]},
            "search_space": {"lambda": {"low": 1e-5, "high": 10.0, "log": True}},
            "training": {"max_epochs": 5, "batch_size": 32},
            "budget": {"n_trials": 3},
        }
    )
    assert "\n" not in text and len(text) > 255
    return text


def recording() -> tuple[httpx.MockTransport, list[bytes]]:
    sent: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.content)
        return httpx.Response(422, json=REFUSED)

    return httpx.MockTransport(answer), sent


def test_a_long_one_line_definition_text_is_sent_not_taken_for_a_file_name() -> None:
    transport, sent = recording()
    text = one_line_definition()
    with Client("http://regtune.test", transport=transport) as client, pytest.raises(ApiError):
        client.submit(text)
    assert sent == [text.encode()]


def test_a_path_is_read_and_a_short_string_naming_a_file_is_text(tmp_path: Path) -> None:
    transport, sent = recording()
    path = tmp_path / "def.json"
    path.write_text(one_line_definition())
    with Client("http://regtune.test", transport=transport) as client:
        with pytest.raises(ApiError):
            client.submit(path)
        with pytest.raises(ApiError):
            client.submit(str(path))
    assert sent == [path.read_bytes(), str(path).encode()]


def test_regtune_submit_sends_a_long_one_line_json_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport, sent = recording()

    def client(url: str | None, *, key: str | None = None, **_: Any) -> Client:
        return Client(url, key=key, transport=transport)

    monkeypatch.setattr(output, "Client", client)
    path = tmp_path / "def.json"
    path.write_text(one_line_definition())
    result = CliRunner().invoke(app, ["submit", str(path), "--url", "http://regtune.test"])
    assert result.exit_code == 1, result.output
    assert "File name too long" not in result.output
    assert "recorded" in result.output
    assert sent == [path.read_bytes()]


def test_a_file_name_sent_as_the_definition_is_told_to_send_the_file(api: TestClient) -> None:
    """``Client.submit("examples/diabetes-enet.yaml")`` (or ``curl -d`` without ``@``) sent the
    name as the definition, and the 400 spoke of curl dropping line breaks."""
    name = "examples/diabetes-enet.yaml"
    client = Client("http://testserver", transport=ThroughApp(api))
    with client, pytest.raises(ApiError) as refused:
        client.submit(name)
    assert refused.value.status == 400
    assert "curl -d drops" not in refused.value.message
    assert f"the body is the text {name!r}, which names a file" in refused.value.message
    assert f"Client.submit(Path({name!r}))" in refused.value.message
    assert f"curl --data-binary @{name}" in refused.value.message
