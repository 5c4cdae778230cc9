"""A numeric target of a few distinct values (ratings 1-5, scores 0 / 0.5 / 1) is a regression
under task auto, as README says; the upload now says so and how to make them classes, in the
API's ``notes`` and the CLI's output (was: "task regression" and nothing else)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tests.inprocess import cli_output

N = 60


def rated(values: np.ndarray) -> bytes:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.normal(size=N), "y": values}).to_csv(index=False).encode()


def notes(api: TestClient, raw: bytes, task: str = "auto") -> list[str]:
    answer = api.post(
        "/v1/datasets", files={"file": ("d.csv", raw)}, data={"target": "y", "task": task}
    )
    assert answer.status_code == 201, answer.text
    found: list[str] = answer.json()["notes"]
    return found


def test_a_few_valued_numeric_target_taken_as_a_regression_is_said_to_be(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    scores = rated(np.resize([0.0, 0.5, 1.0], N))
    assert notes(api, scores) == [
        "task auto took target 'y' as a regression: it holds numbers, 3 distinct (0, 0.5, 1); "
        "to predict them as classes, upload with task multiclass (--task multiclass)"
    ]
    assert notes(api, scores, task="multiclass") == []
    assert notes(api, scores, task="regression") == []
    assert notes(api, rated(np.linspace(0, 1, N))) == []
    ratings = tmp_path / "ratings.csv"
    ratings.write_bytes(rated(np.resize([1, 2, 3, 4, 5], N)))
    said = cli_output(api, monkeypatch, "datasets", "upload", str(ratings), "--target", "y")
    assert "task regression" in said
    assert "note: task auto took target 'y' as a regression: it holds numbers, 5 distinct" in said
