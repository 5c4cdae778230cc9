"""Uploading bytes through the API and reading what it refused: shared by the upload tests."""

from __future__ import annotations

from fastapi.testclient import TestClient


def upload(
    api: TestClient, raw: bytes, *, filename: str = "d.csv", **form: object
) -> dict[str, object]:
    """POST ``raw`` as a dataset with target ``y`` (or ``form``'s): its 201 or 422 body."""
    answer = api.post("/v1/datasets", files={"file": (filename, raw)}, data={"target": "y", **form})
    assert answer.status_code in (201, 422), answer.text
    body: dict[str, object] = answer.json()
    return body


def refusal(body: dict[str, object]) -> tuple[str, list[object]]:
    """A 422 body's message and fields."""
    error = body["error"]
    assert isinstance(error, dict)
    return str(error["message"]), list(error["fields"])
