"""A grid study's extension is refused in the extension's terms: extending a completed grid of
4 points (``budget.n_trials`` 4) by ``n_trials: 1`` answered ``budget.n_trials: … n_trials 5
would run 1 of them again …: give n_trials ≤ 4, or leave it out (the grid's size)``, the advice
of a definition, where an extension's ``n_trials`` is how many more and leaving it out is a 422
of its own."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.inprocess import run_to_the_end
from tests.service.test_rest_contract import definition

SPACE = {"lambda": {"choices": [0.1, 1.0]}, "l1_ratio": {"choices": [0.0, 1.0]}, "relax": 0.0}


def grid_study(api: TestClient, n_trials: int) -> str:
    body = definition("grid-extension", n_trials) | {"search_space": SPACE}
    body["sampler"] = {"type": "grid"}
    body["training"] = {"solver": "exact", "lambda_path": None}
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    study_id: str = created.json()["id"]
    return study_id


def refusal(api: TestClient, study_id: str, **body: Any) -> tuple[str, str]:
    answer = api.post(f"/v1/studies/{study_id}/extend", json=body)
    assert answer.status_code == 422, answer.text
    (field,) = answer.json()["error"]["fields"]
    return field["path"], field["rule"]


def test_an_exhausted_grid_is_said_to_be_so_in_the_field_the_caller_sent(
    api: TestClient,
) -> None:
    study_id = grid_study(api, 4)
    assert run_to_the_end(api, study_id)["status"] == "completed"
    assert refusal(api, study_id, n_trials=1) == (
        "n_trials",
        "the grid sampler's grid has 4 points, each run once, and budget.n_trials 4 takes all "
        "4: the grid is exhausted, and n_trials 1 more would run 1 of them again, to the same "
        "result (submit a new study over a larger grid)",
    )
    path, rule = refusal(api, study_id, n_trials_total=6)
    assert path == "n_trials_total" and "n_trials_total 6 would run 2 of them again" in rule
    assert "leave it out" not in rule
    assert api.get(f"/v1/studies/{study_id}").json()["progress"]["n_trials"] == 4


@pytest.mark.parametrize(
    ("body", "path", "advice"),
    [
        ({"n_trials": 3}, "n_trials", "extend by at most 2 (n_trials ≤ 2)"),
        ({"n_trials_total": 5}, "n_trials_total", "extend to at most 4 (n_trials_total ≤ 4)"),
    ],
)
def test_a_grid_with_points_left_says_how_far_it_extends(
    api: TestClient, body: dict[str, int], path: str, advice: str
) -> None:
    study_id = grid_study(api, 2)
    refused = refusal(api, study_id, **body)
    assert refused[0] == path
    assert refused[1].startswith(
        "the grid sampler's grid has 4 points, each run once, and budget.n_trials 2 takes 2 "
        "of them: 2 remain"
    ), refused
    assert refused[1].endswith(f"would run 1 of them again, to the same result: {advice}")
    extended = api.post(f"/v1/studies/{study_id}/extend", json={"n_trials": 2})
    assert extended.status_code == 200, extended.text
    assert extended.json()["study"]["progress"]["n_trials"] == 4
