"""``GET …/trials/{number}`` takes the number as the schema declares it, an integer in decimal
digits: ``3_0`` asked for trial 30 (Python's reading of an int literal), and ``+3`` or ``%203``
(a space) answered trial 3."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.service.test_report import finished_study


@pytest.mark.parametrize(("given", "read"), [("3_0", "3_0"), ("+3", "+3"), ("%203", " 3")])
def test_a_trial_number_that_is_not_decimal_digits_is_a_422_naming_it(
    api: TestClient, given: str, read: str
) -> None:
    row = finished_study("default", n=5)
    refused = api.get(f"/v1/studies/{row.id}/trials/{given}")
    assert refused.status_code == 422, refused.text
    rule = f"must be a trial number, in decimal digits only, got {read!r}"
    assert refused.json()["error"]["fields"] == [{"path": "number", "rule": rule}]


@pytest.mark.parametrize("given", ["3", "03"])
def test_a_trial_number_in_decimal_digits_is_that_trial(api: TestClient, given: str) -> None:
    row = finished_study("default", n=5)
    found = api.get(f"/v1/studies/{row.id}/trials/{given}")
    assert found.status_code == 200 and found.json()["number"] == 3, found.text
