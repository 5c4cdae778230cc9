"""A broken definition in flow style (JSON among it) on one line gets the parser's position and
words, not the hint for block YAML squashed onto one line: flow style needs no line breaks (was:
``regtune submit bad.json`` of ``{"name": "x",`` was told to write it "in flow style")."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.inprocess import cli_result

PARSER_SAID = (  # a .json file is sent as JSON: JSON's parser says it
    "the body is not valid JSON: Expecting property name enclosed in double quotes: line 2 "
    "column 1 (char 14)"
)


def test_regtune_submit_of_a_broken_one_line_json_file_says_where_it_breaks(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x",\n')  # as echo writes it

    result = cli_result(api, monkeypatch, "submit", str(bad))

    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())
    assert said == f"error: 400 unparseable_body: {PARSER_SAID}", said
    assert api.get("/v1/studies").json()["total"] == 0


@pytest.mark.parametrize(
    "text",
    ['{"name": "x", "dataset": {"builtin": "diabetes"}', "[name: x"],
    ids=["json", "flow sequence"],
)
def test_a_broken_one_line_flow_text_from_curl_gets_no_line_break_hint(
    api: TestClient, text: str
) -> None:
    headers = {"Content-Type": "application/yaml", "User-Agent": "curl/8.5.0"}
    answer = api.post("/v1/studies", content=text, headers=headers)
    assert answer.status_code == 400, answer.text
    message = answer.json()["error"]["message"]
    assert message.startswith("the body is not valid YAML: ") and " at line 1, column " in message
    assert "one line" not in message and "line break" not in message, message


def test_block_yaml_on_one_line_still_gets_the_hint(api: TestClient) -> None:
    headers = {"Content-Type": "application/yaml"}
    answer = api.post(
        "/v1/studies", content="name: x dataset: {builtin: diabetes}", headers=headers
    )
    assert answer.status_code == 400, answer.text
    assert "block YAML needs a line break before each key" in answer.json()["error"]["message"]
