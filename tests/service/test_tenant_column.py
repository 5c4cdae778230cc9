"""The admin key's ``regtune ls`` has a tenant column whenever it lists every tenant's studies,
and its ``regtune show`` names the study's tenant (was: the column only when one page held
several tenants' studies, so a listing of one tenant's studies, or a page of them, hid whose
they were; ``show`` never named it). The API says whose studies an answer is drawn from in
``X-Regtune-Tenants``: ``all`` or ``one``."""

from __future__ import annotations

import pytest

from tests.inprocess import Apps, cli_output
from tests.service.test_client_optuna import STUDY

ADMIN = "tenant-column-admin-key-0123456789abcdef"


def test_the_admin_key_is_told_whose_each_study_is(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = apps(admin_key=ADMIN)
    admin = f"Bearer {ADMIN}"
    made = api.post("/v1/keys", json={"tenant": "team-a"}, headers={"Authorization": admin})
    alpha = f"Bearer {made.json()['key']}"
    study = api.post("/v1/studies", json=STUDY, headers={"Authorization": alpha}).json()

    listing = api.get("/v1/studies", headers={"Authorization": admin})
    assert listing.headers["X-Regtune-Tenants"] == "all"
    assert [s["tenant"] for s in listing.json()["items"]] == ["team-a"]  # one tenant's only
    one = api.get("/v1/studies", params={"tenant": "team-a"}, headers={"Authorization": admin})
    assert one.headers["X-Regtune-Tenants"] == "one"
    own = api.get("/v1/studies", headers={"Authorization": alpha})
    assert own.headers["X-Regtune-Tenants"] == "one"

    api.headers["Authorization"] = admin
    listed = cli_output(api, monkeypatch, "ls")
    assert "tenant" in listed and "team-a" in listed, listed
    assert "team-a" not in cli_output(api, monkeypatch, "ls", "--tenant", "team-a")
    shown = cli_output(api, monkeypatch, "show", study["id"])
    assert shown.startswith(f"notebook {study['id']} tenant team-a status queued"), shown

    api.headers["Authorization"] = alpha
    assert "tenant" not in cli_output(api, monkeypatch, "ls")
    shown = cli_output(api, monkeypatch, "show", study["id"])
    assert shown.startswith(f"notebook {study['id']} status queued"), shown
