"""Cancelling a study twice: the second cancel (a script's retry, a second terminal) is answered
with the study as it is (was a 409 "already cancelled"), through the API, the client and the
CLI alike; a study that completed still cannot be cancelled, and says so."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from regtune.service.client.errors import ApiError
from regtune.service.client.http import Client
from tests.inprocess import cli_result, run_to_the_end
from tests.service.test_client_optuna import STUDY, ThroughApp


def test_cancelling_a_cancelled_study_answers_it_as_it_is(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = api.post("/v1/studies", json=STUDY | {"name": "cancelled-twice"}).json()  # no worker
    first = api.post(f"/v1/studies/{created['id']}/cancel")
    assert first.status_code == 200, first.text
    again = api.post(f"/v1/studies/{created['id']}/cancel")
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "cancelled"
    assert again.json()["finished_at"] == first.json()["finished_at"]  # the first cancel's
    with Client("http://regtune.test", transport=ThroughApp(api)) as client:
        assert client.cancel(created["id"]).status == "cancelled"
    result = cli_result(api, monkeypatch, "cancel", created["id"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"study {created['id']} cancelled"


def test_a_completed_study_cannot_be_cancelled_and_says_why(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = api.post("/v1/studies", json=STUDY | {"name": "completed-first"}).json()
    assert run_to_the_end(api, created["id"])["status"] == "completed"
    refused = api.post(f"/v1/studies/{created['id']}/cancel")
    assert refused.status_code == 409, refused.text
    said = (
        f"study {created['id']!r} has already completed: only a queued or running study can be "
        "cancelled"
    )
    assert refused.json()["error"]["message"] == said
    assert api.get(f"/v1/studies/{created['id']}").json()["status"] == "completed"  # unchanged
    with (
        Client("http://regtune.test", transport=ThroughApp(api)) as client,
        pytest.raises(ApiError) as error,
    ):
        client.cancel(created["id"])
    assert error.value.status == 409 and error.value.message == said
    result = cli_result(api, monkeypatch, "cancel", created["id"])
    assert result.exit_code == 1, result.output
    assert " ".join(result.stderr.split()) == f"error: 409 conflict: {said}"
