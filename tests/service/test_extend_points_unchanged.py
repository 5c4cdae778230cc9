"""Points given with ``n_trials_total`` the budget already (``regtune extend ID --to 77 --point
'{lambda: 0.01}'`` on a 77-trial study) are a 422 at ``points_to_evaluate``, as points the budget
grows by too few trials for (was: ``extended: false``, rc 0, the point dropped and never queued);
the same request repeated after it queued its points still changes nothing. The 422 names the
field the request sent (was "give n_trials of at least as many" to an ``n_trials_total``)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from regtune.service.errors import Conflict
from regtune.service.store.repos import extension
from tests.inprocess import cli_result, run_to_the_end
from tests.service.test_extend import done, extend
from tests.service.test_rest_contract import definition


def refused_rule(api: TestClient, study_id: str, body: dict[str, Any]) -> str:
    """The rule of a 422 at ``points_to_evaluate``, after checking nothing was stored."""
    before = api.get(f"/v1/studies/{study_id}").json()
    refused = api.post(f"/v1/studies/{study_id}/extend", json=body)
    assert refused.status_code == 422, refused.text
    fields = refused.json()["error"]["fields"]
    assert [f["path"] for f in fields] == ["points_to_evaluate"], fields
    after = api.get(f"/v1/studies/{study_id}").json()
    assert after["definition"] == before["definition"]
    assert after["progress"]["n_trials"] == before["progress"]["n_trials"]
    rule: str = fields[0]["rule"]
    return rule


def test_points_with_the_total_budget_already_are_a_422_not_dropped(api: TestClient) -> None:
    study_id = api.post("/v1/studies", json=definition("total-already", 2)).json()["id"]
    rule = refused_rule(
        api, study_id, {"n_trials_total": 2, "points_to_evaluate": [{"lambda": 0.1}]}
    )
    assert rule == (
        "1 point but the budget grows by 0: each point is a trial of the budget "
        "(give n_trials_total of at least 3, or leave n_trials_total out)"
    )
    assert api.get(f"/v1/studies/{study_id}/trials").json()["items"] == []  # nothing queued
    with pytest.raises(Conflict, match="grows it by 0"):  # the store's own check, as raced
        extension.extend(study_id, n_trials_total=2, points=[{"lambda": 0.1}], tenant=None)


@pytest.mark.parametrize(
    ("count", "advice"),
    [
        ({"n_trials_total": 3}, "give n_trials_total of at least 4, or leave n_trials_total out"),
        ({"n_trials": 1}, "give n_trials of at least 2, or leave n_trials out"),
    ],
)
def test_too_few_trials_for_the_points_names_the_field_sent(
    api: TestClient, count: dict[str, int], advice: str
) -> None:
    study_id = api.post("/v1/studies", json=definition("too-few", 2)).json()["id"]
    points = [{"lambda": 0.1}, {"lambda": 0.2}]
    rule = refused_rule(api, study_id, count | {"points_to_evaluate": points})
    assert (
        rule
        == f"2 points but the budget grows by 1: each point is a trial of the budget ({advice})"
    )


def test_a_repeat_is_unchanged_but_other_points_at_that_total_are_refused(
    api: TestClient,
) -> None:
    study_id = api.post("/v1/studies", json=definition("total-repeat", 2)).json()["id"]
    points: list[dict[str, Any]] = [{"lambda": 0.5}, {"lambda": 0.05}]
    body = {"n_trials_total": 4, "points_to_evaluate": points}
    assert extend(api, study_id, **body)["extended"] is True
    again = extend(api, study_id, **body)
    assert again["extended"] is False, again
    assert (
        extension.extend(study_id, n_trials_total=4, points=points, tenant=None).extended is False
    )

    other = {"n_trials_total": 4, "points_to_evaluate": [{"lambda": 0.05}, {"lambda": 0.5}]}
    assert "grows by 0" in refused_rule(api, study_id, other)
    listed = api.get(f"/v1/studies/{study_id}").json()["definition"]["sampler"]
    assert listed["points_to_evaluate"] == points  # queued once


def test_extend_to_the_budget_with_a_point_fails_on_a_completed_study(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    study_id = api.post("/v1/studies", json=definition("cli-total-already", 2)).json()["id"]
    assert done(run_to_the_end(api, study_id)) == 2
    said = cli_result(
        api, monkeypatch, "extend", study_id, "--to", "2", "--point", "{lambda: 0.01}"
    )
    assert said.exit_code == 1, said.output
    assert "points_to_evaluate" in said.output and "n_trials_total of at least 3" in said.output
    study = api.get(f"/v1/studies/{study_id}").json()
    assert study["status"] == "completed" and study["progress"]["n_trials"] == 2, study
    assert "points_to_evaluate" not in study["definition"]["sampler"]
