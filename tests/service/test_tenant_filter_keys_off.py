"""``regtune ls --tenant other`` on a service without keys is refused in words true for it: no
key was sent, everyone is tenant ``default`` (was: "a tenant's key lists only its own
studies ('default')", to a caller who sent no key)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.inprocess import cli_output, cli_result
from tests.service.test_client_optuna import STUDY

RULE = (
    "API keys are off on this server (no REGTUNE_ADMIN_KEY, no key made), so every caller is "
    "tenant 'default' and lists only its studies, not those of 'other'; every tenant's are the "
    "admin key's once REGTUNE_ADMIN_KEY is set"
)


def test_another_tenant_s_listing_with_keys_off_says_keys_are_off(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert api.post("/v1/studies", json=STUDY | {"name": "mine"}).status_code == 201

    refused = api.get("/v1/studies", params={"tenant": "other"})
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert error["message"] == f"tenant: {RULE}"
    assert [(f["path"], f["rule"]) for f in error["fields"]] == [("tenant", RULE)]

    result = cli_result(api, monkeypatch, "ls", "--tenant", "other")
    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())
    assert said == f"error: 403 forbidden: tenant: {RULE}", said
    assert "mine" in cli_output(api, monkeypatch, "ls", "--tenant", "default")
