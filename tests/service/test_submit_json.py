"""``regtune submit study.json`` sends the file as JSON: it was sent as YAML, which took a
trailing comma or ``.2`` and said a JSON file's syntax error in YAML's words."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from regtune.service.client.errors import ApiError
from regtune.service.client.http import Client
from tests.inprocess import cli_result
from tests.service.test_client_optuna import STUDY


@pytest.mark.parametrize(
    ("budget", "said"),
    [
        ('{"n_trials": 3,}', "Expecting property name enclosed in double quotes"),
        ('{"n_trials": .3}', "Expecting value"),
    ],
)
def test_a_json_file_is_held_to_json(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, budget: str, said: str
) -> None:
    text = json.dumps(STUDY | {"budget": "BUDGET"}, indent=2).replace('"BUDGET"', budget)
    definition = tmp_path / "study.json"
    definition.write_text(text)

    result = cli_result(api, monkeypatch, "submit", str(definition))

    assert result.exit_code == 1, result.output
    shown = " ".join(result.output.split())
    assert "the body is not valid JSON" in shown and said in shown, shown
    assert api.get("/v1/studies").json()["items"] == []


def test_a_json_file_and_a_yaml_file_are_both_created(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "a.json").write_text(json.dumps(STUDY | {"name": "from-json"}, indent=2))
    (tmp_path / "b.yaml").write_text(json.dumps(STUDY | {"name": "from-yaml"}))

    for file in ("a.json", "b.yaml"):
        result = cli_result(api, monkeypatch, "submit", str(tmp_path / file))
        assert result.exit_code == 0, result.output

    names = {s["name"] for s in api.get("/v1/studies").json()["items"]}
    assert names == {"from-json", "from-yaml"}


def test_definition_text_that_is_a_json_object_is_sent_as_json() -> None:
    types: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        types.append(request.headers["content-type"])
        return httpx.Response(422, json={"error": {"code": "x", "message": "x", "fields": []}})

    with Client("http://regtune.test", transport=httpx.MockTransport(answer)) as client:
        for text in (json.dumps(STUDY), "name: notebook\nbudget: {n_trials: 3}\n", "[1, 2]"):
            with pytest.raises(ApiError):
                client.submit(text)

    assert types == ["application/json", "application/yaml", "application/yaml"]
