"""A number sent as text is told to go without quotes only when it is a finite number: 'inf'
and 'nan' unquoted are no JSON, and no finite number either (was: ``timeout_s: must be a
number, got the text 'inf' (write it without quotes)``).

Fast and in-process: the app under ``TestClient``.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.service.test_rest_contract import definition

NOT_FINITE = "(it reads as an infinity or NaN, which JSON has no number for: give a finite number)"


def _rules(api: TestClient, path: str, body: dict[str, object]) -> dict[str, str]:
    answer = api.post(path, json=body)
    assert answer.status_code == 422, answer.text
    return {f["path"]: f["rule"] for f in answer.json()["error"]["fields"]}


@pytest.mark.parametrize("text", ["inf", "nan", "-Infinity", "NaN", "1e400"])
def test_an_infinity_or_nan_as_text_is_told_to_give_a_finite_number(
    api: TestClient, text: str
) -> None:
    created = api.post("/v1/studies", json=definition("finite"))
    assert created.status_code == 201, created.text
    extend = f"/v1/studies/{created.json()['id']}/extend"
    rules = _rules(api, extend, {"n_trials": 2, "timeout_s": text})
    assert rules["timeout_s"] == f"must be a number, got the text {text!r} {NOT_FINITE}"
    budget = {"n_trials": text, "timeout_s": text}
    rules = _rules(api, "/v1/studies", {**definition("not-finite"), "budget": budget})
    assert rules["budget.n_trials"] == f"must be a whole number, got the text {text!r} {NOT_FINITE}"
    assert "without quotes" not in rules["budget.timeout_s"], rules


def test_a_finite_number_as_text_is_still_told_to_drop_the_quotes(api: TestClient) -> None:
    created = api.post("/v1/studies", json=definition("quoted"))
    extend = f"/v1/studies/{created.json()['id']}/extend"
    rules = _rules(api, extend, {"n_trials": 2, "timeout_s": "600"})
    assert rules["timeout_s"] == "must be a number, got the text '600' (write it without quotes)"
