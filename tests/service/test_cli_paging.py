"""``regtune ls`` and ``regtune datasets ls`` page as ``regtune trials`` does: ``--offset N``
skips the first N, and a footer that shows fewer than there are says where the next ones start
(was: "2 of 5 studies", with no ``--offset`` to reach the other 3)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.inprocess import cli_output, cli_result
from tests.service.test_client_optuna import STUDY


def _names(api: TestClient, monkeypatch: pytest.MonkeyPatch, *args: str) -> list[str]:
    result = cli_result(api, monkeypatch, *args, "--json")
    assert result.exit_code == 0, result.output
    return [item["name"] for item in json.loads(result.stdout)["items"]]


def test_ls_pages_with_offset_and_says_where_the_next_ones_start(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(5):
        assert api.post("/v1/studies", json=STUDY | {"name": f"s{i}"}).status_code == 201
    newest_first = _names(api, monkeypatch, "ls")
    assert sorted(newest_first) == [f"s{i}" for i in range(5)]

    pages = [
        _names(api, monkeypatch, "ls", "--limit", "2", "--offset", str(start))
        for start in (0, 2, 4)
    ]
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:]]

    first = cli_output(api, monkeypatch, "ls", "--limit", "2")
    assert first.endswith("2 of 5 studies (the next ones: --offset 2)"), first
    middle = cli_output(api, monkeypatch, "ls", "--limit", "2", "--offset", "2")
    assert middle.endswith("2 of 5 studies (the next ones: --offset 4)"), middle
    last = cli_output(api, monkeypatch, "ls", "--limit", "2", "--offset", "4")
    assert last.endswith("1 of 5 studies"), last


def test_datasets_ls_pages_with_offset_and_says_where_the_next_ones_start(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(3):
        rows = "x,y\n" + "".join(f"{j},{(i + 2) * j}\n" for j in range(30))
        uploaded = api.post(
            "/v1/datasets", files={"file": (f"d{i}.csv", rows.encode())}, data={"target": "y"}
        )
        assert uploaded.status_code == 201, uploaded.text
    newest_first = _names(api, monkeypatch, "datasets", "ls")
    assert sorted(newest_first) == ["d0.csv", "d1.csv", "d2.csv"]

    second = _names(api, monkeypatch, "datasets", "ls", "--limit", "1", "--offset", "1")
    assert second == newest_first[1:2]

    first = cli_output(api, monkeypatch, "datasets", "ls", "--limit", "2")
    assert first.endswith("2 of 3 datasets (the next ones: --offset 2)"), first
    last = cli_output(api, monkeypatch, "datasets", "ls", "--limit", "2", "--offset", "2")
    assert last.endswith("1 of 3 datasets"), last
