"""The exit status a script acts on: ``regtune best ID && deploy`` deploys nothing when there
is no best trial, whatever the output's form."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.inprocess import cli_result
from tests.service.test_client_optuna import STUDY


def test_best_of_a_study_without_a_best_trial_fails_with_or_without_download(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Cancelled before any trial ran: ``best`` exits 1 as ``best --download`` does (it exited
    0 and printed the reason as if it were the answer)."""
    created = api.post("/v1/studies", json=STUDY | {"name": "nothing-done"}).json()  # no worker
    assert api.post(f"/v1/studies/{created['id']}/cancel").status_code == 200
    plain = cli_result(api, monkeypatch, "best", created["id"])
    assert plain.exit_code == 1, plain.output
    assert plain.stdout == ""  # the reason is an error, on stderr
    assert f"error: study {created['id']} has no completed trial (status cancelled)" in (
        " ".join(plain.output.split())
    )
    as_json = cli_result(api, monkeypatch, "best", created["id"], "--json")
    assert as_json.exit_code == 1, as_json.output
    assert json.loads(as_json.stdout)["best_trial"] is None  # still pure JSON on stdout
    model = tmp_path / "model.safetensors"
    downloaded = cli_result(api, monkeypatch, "best", created["id"], "--download", str(model))
    assert downloaded.exit_code == 1 and not model.exists(), downloaded.output
