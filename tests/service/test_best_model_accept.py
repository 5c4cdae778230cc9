"""The best model's type follows ``Accept``'s q-values: ``application/octet-stream;q=0`` was
served as octet-stream, and regtune's own type at ``q=0.1`` beside octet-stream at 1 as
regtune's own, for the type's name alone was read, never its weight. Each type is its own
representation to a cache: ``Vary: Accept`` and a tag of its own."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.service.test_report import finished_study

OWN = "application/vnd.regtune.model+safetensors"
OCTETS = "application/octet-stream"


@pytest.mark.parametrize(
    ("accept", "served"),
    [
        (f"{OCTETS};q=0", OWN),
        (f"{OWN};q=0.1, {OCTETS}", OCTETS),
        (f"{OCTETS};q=0.5, {OWN};q=0.9", OWN),
        (f"{OWN};q=0.5, {OCTETS};Q=0.9", OCTETS),
        (f"{OWN};q=0", OCTETS),  # refused, and octet-stream not: the same bytes as it
        (f"*/*;q=0.1, {OCTETS};q=0", OWN),  # the type's own range outweighs the wildcard's
        (f"application/*;q=0.2, {OWN};q=0.1", OCTETS),
        (f"{OCTETS}, */*", OCTETS),  # named outright beats reached by a wildcard
        (f"{OCTETS}, {OWN}", OWN),  # equal weight: regtune's own
        (OCTETS, OCTETS),
        ("", OWN),
        ("*/*", OWN),
        ("text/html", OWN),  # nothing acceptable: the header is disregarded, as it always was
        (f"{OCTETS};q=0, {OWN};q=0", OWN),
    ],
)
def test_the_model_goes_as_the_type_accept_weighs_highest(
    api: TestClient, accept: str, served: str
) -> None:
    row = finished_study("default", n=5)
    answer = api.get(f"/v1/studies/{row.id}/best-model", headers={"Accept": accept})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == served


def test_each_type_is_its_own_representation_to_a_cache(api: TestClient) -> None:
    """The answer changed its ``Content-Type`` with ``Accept`` but said no ``Vary: Accept`` and
    sent both types under one strong ETag, so a cache holding both, told by a 304 that the tag
    still holds, could serve either with the other's type."""
    row = finished_study("default", n=5)
    where = f"/v1/studies/{row.id}/best-model"
    sha256 = api.get(f"/v1/studies/{row.id}").json()["best_model"]["sha256"]
    own, octets = (api.get(where, headers={"Accept": accept}) for accept in (OWN, OCTETS))
    assert (own.headers["etag"], octets.headers["etag"]) == (
        f'"{sha256}"',  # the file's SHA-256, as curl --etag-compare uses it
        f'"{sha256}-octet-stream"',
    )
    assert own.content == octets.content
    assert own.headers["vary"] == octets.headers["vary"] == "Accept"

    for accept, held in ((OWN, own), (OCTETS, octets), ("", own)):
        tag = held.headers["etag"]
        same = api.get(where, headers={"Accept": accept, "If-None-Match": tag})
        assert same.status_code == 304 and same.content == b"", (accept, same.headers)
        assert (same.headers["etag"], same.headers["vary"]) == (tag, "Accept")
    for accept, other in ((OWN, octets), (OCTETS, own)):  # a copy of the other type: not it
        answer = api.get(where, headers={"Accept": accept, "If-None-Match": other.headers["etag"]})
        assert answer.status_code == 200 and answer.headers["content-type"] == accept
