"""The best model's type follows ``Accept``'s q-values: ``application/octet-stream;q=0`` was
served as octet-stream, and regtune's own type at ``q=0.1`` beside octet-stream at 1 as
regtune's own, for the type's name alone was read, never its weight."""

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
