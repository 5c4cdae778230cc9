"""A list's ``offset`` and ``limit`` are integers in decimal digits, as the schema declares
them and as a trial number in a path is (``test_trial_number_path``): ``?limit=5_0`` paged by
50 (Python's reading of an int literal), and ``?limit=%2B5`` or ``?limit=%205`` (a plus, a
space) by 5, so that a typo changed the page silently."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.service.test_report import finished_study


def _lists(study_id: str) -> list[str]:
    return ["/v1/studies", "/v1/datasets", f"/v1/studies/{study_id}/trials"]


@pytest.mark.parametrize("parameter", ["offset", "limit"])
@pytest.mark.parametrize(("given", "read"), [("5_0", "5_0"), ("%2B5", "+5"), ("%205", " 5")])
def test_a_page_integer_that_is_not_decimal_digits_is_a_422_naming_it(
    api: TestClient, parameter: str, given: str, read: str
) -> None:
    row = finished_study("default", n=5)
    for path in _lists(row.id):
        refused = api.get(f"{path}?{parameter}={given}")
        assert refused.status_code == 422, (path, refused.text)
        rule = f"must be a whole number, in decimal digits only, got {read!r}"
        assert refused.json()["error"]["fields"] == [{"path": parameter, "rule": rule}], path


def test_a_page_in_decimal_digits_is_read_as_before(api: TestClient) -> None:
    row = finished_study("default", n=5)
    for path in _lists(row.id):
        page = api.get(f"{path}?offset=01&limit=2")
        assert page.status_code == 200, (path, page.text)
        assert (page.json()["offset"], page.json()["limit"]) == (1, 2), path
    trials = api.get(f"/v1/studies/{row.id}/trials?offset=1&limit=2").json()
    assert [t["number"] for t in trials["items"]] == [1, 2]
