"""A path no route serves is a 404 that says why: an id with an escaped ``/`` (which the router
reads as two segments) is named as no item of its collection, anything else as no such path
(both were a bare "Not Found")."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("GET", "/v1/studies/a%2Fb", "no study with id 'a/b': an id holds no '/'"),
        ("GET", "/v1/studies/a%2fb/trials", "no study with id 'a/b': an id holds no '/'"),
        ("DELETE", "/v1/studies/a%2Fb", "no study with id 'a/b': an id holds no '/'"),
        ("POST", "/v1/studies/x%2F%2Fy/cancel", "no study with id 'x//y': an id holds no '/'"),
        ("GET", "/v1/datasets/a%2Fb", "no dataset with id 'a/b': an id holds no '/'"),
        ("GET", "/v1/nothing/here", "no such path: /v1/nothing/here"),
    ],
)
def test_a_missed_route_says_why(api: TestClient, method: str, path: str, message: str) -> None:
    answer = api.request(method, path)
    assert answer.status_code == 404
    assert answer.json()["error"] == {"code": "not_found", "message": message, "fields": []}


def test_a_missing_study_is_still_named_by_its_route(api: TestClient) -> None:
    answer = api.get("/v1/studies/ab")
    assert answer.json()["error"]["message"] == "no study with id 'ab'"
