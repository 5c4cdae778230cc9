"""A search-space value a rule refused is repeated as given, never rounded: ``:g`` said
``l1_ratio: 1.0000001`` as "got 1" beside "≤ 1" and ``lambda: 1000001`` as "got 1e+06" beside
"≤ 1e+06", values that seemed to satisfy the rule that refused them."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

REFUSED = [
    ({"l1_ratio": 1.0000001}, "must satisfy 0 ≤ l1_ratio ≤ 1, got 1.0000001"),
    ({"lambda": 1000001}, "must satisfy 0 < lambda ≤ 1e+06, got 1000001"),
    ({"lambda": {"low": 1e-3, "high": 1000000.5}}, "got 0.001..1000000.5"),
    ({"l1_ratio": {"choices": [0.5, 1.0000001]}}, "got the choice 1.0000001"),
    (
        {"batch_size": {"choices": [16, 32.0000001]}},
        "batch_size takes whole numbers, got 32.0000001",
    ),
]


@pytest.mark.parametrize(("space", "words"), REFUSED)
def test_a_refused_value_is_said_as_given(
    api: TestClient, space: dict[str, Any], words: str
) -> None:
    body = {"name": "unrounded", "dataset": {"builtin": "diabetes"}, "search_space": space}
    if "batch_size" in space:
        body["training"] = {"solver": "minibatch"}
    answer = api.post("/v1/studies", json=body)
    assert answer.status_code == 422, answer.text
    (field,) = answer.json()["error"]["fields"]
    assert field["path"] == f"search_space.{next(iter(space))}", field
    assert words in field["rule"], field
