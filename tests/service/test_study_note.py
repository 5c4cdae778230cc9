"""The note optuna-dashboard shows on a study: the definition as stored, readable as written."""

from __future__ import annotations

from typing import Any

import optuna
import yaml
from fastapi.testclient import TestClient
from optuna_dashboard import get_note

from regtune.service.store.scheduling.retries import get_storage
from tests.service.test_rest_contract import definition


def _noted(study: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The note the dashboard shows, and the definition in its YAML block."""
    note = get_note(optuna.load_study(study_name=study["optuna_study_name"], storage=get_storage()))
    block = note.split("```yaml\n", 1)[1].rsplit("```", 1)[0]
    return note, yaml.safe_load(block)


def test_the_note_writes_non_ascii_as_itself(api: TestClient) -> None:
    given = definition("note-words")
    del given["validation"]  # chosen by default: "442 rows × 10 features …"
    study = api.post("/v1/studies", json=given).json()

    note, noted = _noted(study)
    chosen_by = study["definition"]["validation"]["chosen_by"]
    assert "×" in chosen_by
    assert "× 10 features ×" in note and "\\x" not in note and "\\u" not in note
    assert noted == study["definition"]
