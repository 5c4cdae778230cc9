"""A synthetic dataset's rules name what the definition gave: friedman1's own rule (its 5
informative features need ``n_features ≥ 5``) comes first; it was never reached, as the default
``n_informative`` 5, never given, was refused first: "got 5 > 4"."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize(
    ("synthetic", "rule"),
    [
        (
            {"kind": "friedman1", "n_features": 4},
            "friedman1 needs n_features ≥ 5 (its 5 informative features), got 4",
        ),
        (
            {"kind": "sparse_regression", "n_features": 4},
            "n_informative must be ≤ n_features, got 5 (its default) > 4",
        ),
        (
            {"kind": "sparse_regression", "n_features": 4, "n_informative": 6},
            "n_informative must be ≤ n_features, got 6 > 4",
        ),
    ],
)
def test_a_synthetic_rule_names_what_was_given(
    api: TestClient, synthetic: dict[str, Any], rule: str
) -> None:
    body = {"name": "made-up", "dataset": {"synthetic": synthetic}}
    answer = api.post("/v1/studies", json=body)
    assert answer.status_code == 422, answer.text
    (field,) = answer.json()["error"]["fields"]
    assert field["path"] == "dataset.synthetic" and rule in field["rule"], field
