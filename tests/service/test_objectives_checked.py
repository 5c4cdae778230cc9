"""A definition's objectives refused at the field that says them: an ``objective.metric`` other
than ``objectives[0]`` at ``objective.metric`` (was: at ``body``)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def refused_at(api: TestClient, definition: dict[str, Any]) -> tuple[str, str]:
    answer = api.post("/v1/studies", json=definition)
    assert answer.status_code == 422, answer.text
    [field] = answer.json()["error"]["fields"]
    return field["path"], field["rule"]


def test_an_objective_metric_other_than_the_first_objective_is_refused_at_its_field(
    api: TestClient,
) -> None:
    definition = {
        "name": "x",
        "dataset": {"builtin": "diabetes"},
        "objectives": ["val_loss", "n_nonzero"],
        "objective": {"metric": "val_r2"},
    }
    path, rule = refused_at(api, definition)
    assert path == "objective.metric"
    assert rule.startswith("objective.metric must equal objectives[0], got val_r2 and val_loss")
