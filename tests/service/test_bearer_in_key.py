"""A key given with "Bearer" in it (``REGTUNE_KEY="Bearer rt_…"``, sent as ``Authorization:
Bearer Bearer rt_…``) is told so, and to give the key alone: by the CLI and the client before
any request, naming the setting, and by the API to any other sender (was: 401 "the API key is
unknown or revoked", of a key that was neither)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from regtune.service.cli.app import app
from tests.inprocess import Apps

ADMIN = "bearer-in-key-admin-key-0123456789abcdef"
SAID = (
    "the API key was sent with 'Bearer' in it (the header read Authorization: Bearer Bearer …): "
    "give the key alone (rt_…), as POST /v1/keys answered it; REGTUNE_KEY, --key and "
    "Client(key=) take it without 'Bearer'"
)


def test_the_api_says_a_key_was_sent_with_bearer_in_it(apps: Apps) -> None:
    api = apps(admin_key=ADMIN)
    made = api.post(
        "/v1/keys", json={"tenant": "team-a"}, headers={"Authorization": f"Bearer {ADMIN}"}
    ).json()["key"]
    for _ in range(2):  # read from the database, then as this process remembers it
        refused = api.get("/v1/studies", headers={"Authorization": f"Bearer Bearer {made}"})
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["message"] == SAID
        assert made not in refused.text
    unknown = api.get("/v1/studies", headers={"Authorization": "Bearer rt_no-such-key-000000"})
    assert unknown.json()["error"]["message"] == "the API key is unknown or revoked"
    assert api.get("/v1/studies", headers={"Authorization": f"Bearer {made}"}).status_code == 200


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        ([], {"REGTUNE_KEY": "Bearer rt_s3cr3t"}, "REGTUNE_KEY"),
        (["--key", "bearer rt_s3cr3t"], {}, "--key"),
    ],
)
def test_the_cli_refuses_a_key_given_with_bearer_in_it(
    args: list[str], env: dict[str, str], named: str
) -> None:
    given = {"REGTUNE_URL": "http://127.0.0.1:9", "REGTUNE_KEY": None} | env
    result = CliRunner().invoke(app, ["ls", *args], env=given)
    assert result.exit_code == 2, result.output
    [line] = result.output.splitlines()
    assert line == (
        f"error: {named}: holds 'Bearer' before the key: give the key alone (rt_…); the client "
        "sends Authorization: Bearer <key> itself"
    ), line
