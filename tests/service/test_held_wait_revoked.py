"""A key revoked while ``GET /v1/studies/{id}?wait=`` holds its answer gets the 401 any request
of a revoked key gets (was: the key was checked once, before the hold, and the held request
answered with the study's state up to 60 s after the revocation)."""

from __future__ import annotations

import pytest

from regtune.service.store.repos import cancel_and_delete, keys, study_summary
from regtune.service.store.tables import StudyRow
from tests.inprocess import Apps
from tests.service.test_client_optuna import STUDY

ADMIN = "held-wait-admin-key-0123456789abcdef"


def test_a_key_revoked_during_a_held_wait_gets_401(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = apps(admin_key=ADMIN)
    made = api.post(
        "/v1/keys", json={"tenant": "team-a"}, headers={"Authorization": f"Bearer {ADMIN}"}
    ).json()
    team_a = {"Authorization": f"Bearer {made['key']}"}
    study = api.post("/v1/studies", json=STUDY, headers=team_a).json()
    settled = study_summary.settled

    def revoked_meanwhile(row: StudyRow) -> bool:
        """The key is revoked while the request holds; then the hold ends, the study as it is."""
        keys.revoke_key(made["id"])
        assert not settled(row)  # queued, no worker: it was held
        return True

    monkeypatch.setattr(study_summary, "settled", revoked_meanwhile)
    held = api.get(f"/v1/studies/{study['id']}", params={"wait": 30}, headers=team_a)

    assert held.status_code == 401, held.text
    assert held.json()["error"]["message"] == "the API key is unknown or revoked"
    assert held.headers["WWW-Authenticate"] == "Bearer"
    assert study["id"] not in held.text
    monkeypatch.setattr(study_summary, "settled", settled)
    admin = {"Authorization": f"Bearer {ADMIN}"}
    still = api.get(f"/v1/studies/{study['id']}", params={"wait": 0.01}, headers=admin)
    assert still.status_code == 200 and still.json()["status"] == "queued", still.text


def test_a_key_revoked_during_a_held_wait_learns_nothing_of_a_deletion(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key is checked again when the hold ends in the study's deletion too: a revoked key
    gets its 401, not a 404 that tells it the study is gone (was: the 404, before the check)."""
    api = apps(admin_key=ADMIN)
    made = api.post(
        "/v1/keys", json={"tenant": "team-a"}, headers={"Authorization": f"Bearer {ADMIN}"}
    ).json()
    team_a = {"Authorization": f"Bearer {made['key']}"}
    study = api.post("/v1/studies", json=STUDY, headers=team_a).json()
    settled = study_summary.settled

    def revoked_and_deleted_meanwhile(row: StudyRow) -> bool:
        """The key is revoked and the study deleted while the request holds; the hold then
        reads the study again and finds it gone."""
        if not settled(row):
            keys.revoke_key(made["id"])
            cancel_and_delete.delete(study["id"], tenant="team-a")
        return False

    monkeypatch.setattr(study_summary, "settled", revoked_and_deleted_meanwhile)
    held = api.get(f"/v1/studies/{study['id']}", params={"wait": 30}, headers=team_a)

    assert held.status_code == 401, held.text
    assert held.json()["error"]["message"] == "the API key is unknown or revoked"
    assert study["id"] not in held.text
    monkeypatch.setattr(study_summary, "settled", settled)
    admin = {"Authorization": f"Bearer {ADMIN}"}
    assert api.get(f"/v1/studies/{study['id']}", headers=admin).status_code == 404
