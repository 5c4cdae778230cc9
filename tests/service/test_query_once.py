"""A query parameter a route reads is given once: repeated, it is a 422 naming it (was: the last
value read, silently); one the route does not read is ignored, repeated or not."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.service.test_rest_contract import definition


def test_a_parameter_given_twice_is_a_422_naming_it(api: TestClient) -> None:
    study = api.post("/v1/studies", json=definition("once")).json()
    for path, name, values in (
        (
            f"/v1/studies/{study['id']}/trials?state=COMPLETE&state=PRUNED",
            "state",
            "'COMPLETE', 'PRUNED'",
        ),
        ("/v1/studies?status=running&status=queued", "status", "'running', 'queued'"),
        ("/v1/studies?limit=5&offset=0&limit=6", "limit", "'5', '6'"),
        (f"/v1/studies/{study['id']}?wait=1&wait=2", "wait", "'1', '2'"),
    ):
        answer = api.get(path)
        assert answer.status_code == 422, (path, answer.text)
        fields = answer.json()["error"]["fields"]
        assert fields == [{"path": name, "rule": f"given 2 times ({values}): give it once"}], fields


def test_a_parameter_given_once_or_not_read_is_as_before(api: TestClient) -> None:
    assert api.get("/v1/studies?status=running&limit=5").status_code == 200
    assert api.get("/v1/studies?unread=1&unread=2").status_code == 200
    assert api.get("/healthz?x=1&x=2").status_code == 200
