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


def test_a_limit_above_the_apis_page_is_answered_page_by_page(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``regtune trials ID --limit 1000`` (and ``regtune ls --limit 1000``,
    ``Client.trials(limit=1000)``) was a 422, "limit: Input should be less than or equal to
    500", the API's largest page, however few trials there were: the client now asks for as many
    pages as the limit takes (here pages of 4, so that a study of 10 trials takes several)."""
    from tests.inprocess import cli_result

    created, _ = _study(api, "many-trials", 10)
    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as client:
        client.page_limit = 4
        page = client.trials(created["id"], offset=1, limit=8)
        rest = client.trials(created["id"], offset=6, limit=1000)
    assert [t.number for t in page.items] == list(range(1, 9))
    assert (page.total, page.offset, page.limit) == (10, 1, 8)
    assert [t.number for t in rest.items] == list(range(6, 10)) and rest.total == 10
    for command in (["trials", created["id"]], ["ls"]):
        shown = cli_result(api, monkeypatch, *command, "--limit", "1000")
        assert shown.exit_code == 0, shown.output
    assert "10 of 10 trials" in " ".join(
        cli_result(api, monkeypatch, "trials", created["id"], "--limit", "1000").stdout.split()
    )


def test_the_study_listing_filters_by_name(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether a submission whose answer never came created its study: the listing of that
    name (``GET /v1/studies?name=``, ``rt.studies(name=)``, ``regtune ls --name``) shows the
    study, or none; the listing had no way to ask, so the answer was a scan of every study."""
    from tests.inprocess import cli_result

    created, _ = _study(api, "named-one", 3)
    _study(api, "named-other", 3)
    listed = api.get("/v1/studies", params={"name": "named-one"}).json()
    assert [s["id"] for s in listed["items"]] == [created["id"]] and listed["total"] == 1
    none = api.get("/v1/studies", params={"name": "named-none"}).json()
    assert none["items"] == [] and none["total"] == 0
    bad = api.get("/v1/studies", params={"name": "not a name"})
    assert bad.status_code == 422, bad.text
    [field] = bad.json()["error"]["fields"]
    assert field["path"] == "name" and "ASCII letters (A-Z, a-z), digits" in field["rule"]
    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as client:
        assert [s.name for s in client.studies(name="named-other").items] == ["named-other"]
    shown = cli_result(api, monkeypatch, "ls", "--name", "named-one")
    assert (
        shown.exit_code == 0 and created["id"] in shown.stdout and "named-other" not in shown.stdout
    )
    missing = cli_result(api, monkeypatch, "ls", "--name", "named-none")
    assert missing.exit_code == 0 and "no study named 'named-none'" in missing.stdout
