"""A key of the caller's that a 422 repeats is escaped when it holds a control or bidi
character: each such character as its escape (``\\x1b]0;PWNED\\x07…``), in ``fields[].path``
and the message alike; and ``regtune`` prints an error escaped whatever the API sent (was: the
ESC, BEL and U+202E raw, which cleared the terminal that ran ``regtune submit``, retitled it
and recoloured it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from regtune.service.cli import output
from regtune.service.spec.definition import EXAMPLE
from tests.inprocess import cli_result

HOSTILE = "\x1b]0;PWNED\x07\x1b[2J\x1b[31mevil\u202e"
SAID = r"\x1b]0;PWNED\x07\x1b[2J\x1b[31mevil\u202e"


def test_an_unknown_key_with_control_characters_is_quoted_in_the_422(api: TestClient) -> None:
    text = yaml.safe_dump({**EXAMPLE, HOSTILE: 1, "search_space": {"lambd\x00a": 1}})
    answer = api.post("/v1/studies", content=text, headers={"content-type": "application/yaml"})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    paths = {field["path"] for field in error["fields"]}
    assert paths == {SAID, r"search_space.lambd\x00a"}
    assert SAID in error["message"] and error["message"].isprintable()


def test_an_ordinary_unknown_key_is_named_as_written(api: TestClient) -> None:
    answer = api.post("/v1/studies", json={**EXAMPLE, "searchspace": {}, "naïve key": 1})
    paths = {field["path"] for field in answer.json()["error"]["fields"]}
    assert paths == {"searchspace", "naïve key"}


def test_submit_prints_such_a_key_escaped(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    definition = tmp_path / "evil.yaml"
    definition.write_text(yaml.safe_dump({**EXAMPLE, HOSTILE: 1}))
    result = cli_result(api, monkeypatch, "submit", str(definition))
    assert result.exit_code == 1
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert SAID in result.output


def test_an_error_is_printed_escaped_whatever_the_api_sent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(output.typer.Exit):
        output.fail(f"422 invalid_definition: {HOSTILE}: Extra inputs are not permitted\nnext")
    printed = capsys.readouterr().err
    assert printed.count("\n") == 1 and "\x1b" not in printed and "\u202e" not in printed
    assert r"\x1b]0;PWNED\x07\x1b[2J\x1b[31mevil\u202e: Extra" in printed
    assert r"permitted\nnext" in printed
