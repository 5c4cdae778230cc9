"""``regtune rm`` right after ``regtune cancel``, while a trial still runs: still a 409, but
saying when the delete will go through (was: "cancel it first", of a study already cancelled)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from regtune.service.errors import StudyNotFound
from regtune.service.settings import Settings
from regtune.service.store.db import transaction
from regtune.service.store.repos.cancel_and_delete import _still_running
from regtune.service.store.scheduling import workers
from regtune.service.store.scheduling.claims.taking import claim
from tests.service.test_rest_contract import definition


def test_deleting_a_cancelled_study_whose_trial_runs_says_when_it_can_be(
    api: TestClient,
) -> None:
    study = api.post("/v1/studies", json=definition("rm-after-cancel")).json()
    worker = Settings(heartbeat_interval=7, grace_period=60)
    workers.register("w", settings=worker)
    taken = claim(worker_id="w")
    assert taken is not None and taken.study_id == study["id"]

    refused = api.delete(f"/v1/studies/{study['id']}")  # running: cancel it first, as before
    assert refused.status_code == 409
    assert "cancel it first" in refused.json()["error"]["message"]

    assert api.post(f"/v1/studies/{study['id']}/cancel").json()["status"] == "cancelled"
    refused = api.delete(f"/v1/studies/{study['id']}")
    assert refused.status_code == 409
    assert refused.json()["error"]["message"] == (
        f"study {study['id']!r} is cancelled: its running trial stops at its worker's next "
        "heartbeat (every 7 s); delete it then"
    )
    assert api.get(f"/v1/studies/{study['id']}").json()["status"] == "cancelled"


def test_a_delete_that_loses_to_another_is_no_study_not_a_500(api: TestClient) -> None:
    """Two deletes of one study at once: the one whose conditional UPDATE found the row gone
    (the other deleted it after this one read it) says there is no such study (was
    ``NoResultFound``, a 500)."""
    with transaction() as session, pytest.raises(StudyNotFound, match="no study with id 'gone'"):
        _still_running(session, "gone", "gone")
