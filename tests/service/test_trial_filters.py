"""A trial state filter takes the state in any case, as the CLI does: ``complete``,
``Complete`` and ``COMPLETE`` are the same state (Optuna's names are upper case), through the API
and the Python client; an unknown state is a 422 naming the ones there are. So does the study
listing's status filter (regtune's statuses are lower case)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

import regtune
from tests.service.test_api_reads import _study
from tests.service.test_client_optuna import ThroughApp

ALLOWED = "'RUNNING', 'COMPLETE', 'PRUNED', 'FAIL' or 'WAITING'"


@pytest.mark.parametrize("written", ["COMPLETE", "complete", "Complete"])
def test_the_api_takes_a_trial_state_in_any_case(api: TestClient, written: str) -> None:
    created, _ = _study(api, f"states-{written}", 9)  # trials 0, 3, 6 PRUNED, the rest COMPLETE
    page = api.get(f"/v1/studies/{created['id']}/trials", params={"state": written})
    assert page.status_code == 200, page.text
    assert [t["number"] for t in page.json()["items"]] == [1, 2, 4, 5, 7, 8]
    assert {t["state"] for t in page.json()["items"]} == {"COMPLETE"}


def test_an_unknown_state_is_a_422_naming_the_states_there_are(api: TestClient) -> None:
    created, _ = _study(api, "unknown-state", 3)
    answer = api.get(f"/v1/studies/{created['id']}/trials", params={"state": "done"})
    assert answer.status_code == 422, answer.text
    [field] = answer.json()["error"]["fields"]
    assert field["path"] == "state" and ALLOWED in field["rule"]


def test_the_client_takes_a_trial_state_in_any_case(api: TestClient) -> None:
    created, _ = _study(api, "client-states", 9)
    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as client:
        page = client.trials(created["id"], state="pruned")
        every = client.all_trials(created["id"], state="Complete")
    assert [t.number for t in page.items] == [0, 3, 6] and page.total == 3
    assert [t.number for t in every] == [1, 2, 4, 5, 7, 8]


@pytest.mark.parametrize("case", [str.lower, str.title, str.upper])
def test_the_study_status_filter_takes_any_case(api: TestClient, case: Any) -> None:
    """A study's status is lower case; the listing's filter takes it as the trials' does."""
    created, _ = _study(api, f"status-{case.__name__}", 3)
    status = api.get(f"/v1/studies/{created['id']}").json()["status"]
    listed = api.get("/v1/studies", params={"status": case(status)})
    assert listed.status_code == 200, listed.text
    assert created["id"] in [s["id"] for s in listed.json()["items"]]
    unknown = api.get("/v1/studies", params={"status": "done"})
    assert unknown.status_code == 422 and unknown.json()["error"]["fields"][0]["path"] == "status"
