"""A definition is sent as it is: a ``str`` is its text, a ``Path`` is a file (issue 22, item 14).

The client talks to an ``httpx.MockTransport`` that records what it was sent and answers as the
API answers a definition it refuses, or to the API in this process.
"""

from __future__ import annotations

import codecs
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from regtune.service.cli import output
from regtune.service.cli.app import app
from regtune.service.client.errors import ApiError
from regtune.service.client.http import Client
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


def test_a_broken_one_line_yaml_text_gets_a_hint_that_fits_the_python_client(
    api: TestClient,
) -> None:
    """``Client.submit("name: x dataset: ...")`` (a str is the definition's text) was told that
    curl -d drops line breaks: words for a command its user never typed. curl still hears them."""
    text = "name: one-line dataset: {builtin: diabetes}"
    client = Client("http://testserver", transport=ThroughApp(api))
    with client, pytest.raises(ApiError) as refused:
        client.submit(text)
    assert refused.value.status == 400
    assert "curl" not in refused.value.message
    assert refused.value.message == (
        "the body is not valid YAML: mapping values are not allowed here at line 1, column 23 "
        "(the YAML came as one line: block YAML needs a line break before each key; write it on "
        "several lines, or in flow style: {name: ..., dataset: {...}})"
    )
    headers = {"Content-Type": "application/yaml", "User-Agent": "curl/8.5.0"}
    by_curl = api.post("/v1/studies", content=text, headers=headers)
    assert by_curl.status_code == 400
    assert "curl -d drops line breaks" in by_curl.json()["error"]["message"]


def test_a_definition_file_that_is_not_utf8_is_one_error_line_that_says_where(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``regtune submit`` of a file saved in a Windows code page (a comment ``# modèle`` in
    cp1252) or as UTF-16 (PowerShell's ``>``) ended in a UnicodeDecodeError traceback, read
    before anything was sent; the API now says which byte, where, and what to save it as."""
    from tests.inprocess import cli_result

    text = "name: cp1252-def\n# modèle\ndataset: {builtin: diabetes}\n"
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(text.encode("cp1252"))
    result = cli_result(api, monkeypatch, "submit", str(latin))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert " ".join(result.stderr.split()) == (
        "error: 400 unparseable_body: the body is not UTF-8 text: byte 0xe8 at line 2, column 6 "
        "(invalid continuation byte); save the definition as UTF-8"
    )
    wide = tmp_path / "wide.yaml"
    wide.write_bytes(text.encode("utf-16"))
    result = cli_result(api, monkeypatch, "submit", str(wide))
    assert result.exit_code == 1, result.output
    assert "the body is UTF-16 text" in " ".join(result.stderr.split())


def test_a_definition_with_a_utf8_byte_order_mark_is_accepted_as_json_and_yaml(
    api: TestClient, tmp_path: Path
) -> None:
    """Notepad and PowerShell save UTF-8 with a byte-order mark: a JSON body with one was a 400
    ("Unexpected UTF-8 BOM"), where a dataset upload reads such a file as UTF-8."""
    definition = json.loads(one_line_definition())
    for kind in ("json", "yaml"):
        body = codecs.BOM_UTF8 + json.dumps(definition | {"name": f"bom-{kind}"}).encode()
        answer = api.post(
            "/v1/studies", content=body, headers={"Content-Type": f"application/{kind}"}
        )
        assert answer.status_code == 201, answer.text
    path = tmp_path / "bom.json"
    path.write_bytes(codecs.BOM_UTF8 + json.dumps(definition | {"name": "bom-file"}).encode())
    with Client("http://testserver", transport=ThroughApp(api)) as client:
        assert client.submit(path).name == "bom-file"


def test_regtune_submit_reads_a_definition_from_a_pipe(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``cat d.yaml | regtune submit /dev/stdin`` sent an empty body ("400 unparseable_body: the
    body is empty"): the command read the file for the study's name, which emptied the pipe,
    and the client read it again to send it. It is read once, and that is sent."""
    from tests.inprocess import cli_result

    definition = json.loads(one_line_definition()) | {"name": "from-a-pipe"}
    read, write = os.pipe()
    with os.fdopen(write, "wb") as writer:  # a few hundred bytes: the pipe's buffer holds them
        writer.write(yaml.safe_dump(definition).encode())
    try:
        result = cli_result(api, monkeypatch, "submit", f"/dev/fd/{read}")
    finally:
        os.close(read)
    assert result.exit_code == 0, result.output
    assert "created study" in result.stdout and "(from-a-pipe)" in result.stdout
    (listed,) = api.get("/v1/studies", params={"name": "from-a-pipe"}).json()["items"]
    study = api.get(f"/v1/studies/{listed['id']}").json()
    assert study["definition"]["model"]["hidden_layers"] == [64, 64]
