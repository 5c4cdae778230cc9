"""The note optuna-dashboard shows on a study: the definition as stored, readable as written."""

from __future__ import annotations

from typing import Any

import optuna
import yaml
from fastapi.testclient import TestClient
from optuna_dashboard import get_note

from regtune.service.store.db import transaction
from regtune.service.store.optuna_db.internals.handles import storage_of, study_id_of
from regtune.service.store.optuna_db.notes import (
    CHUNK_LENGTH,
    rewrite_study_note,
    save_new_study_note,
)
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


def test_the_note_shows_the_definition_an_extension_stored(api: TestClient) -> None:
    study = api.post("/v1/studies", json=definition("note-extend", 30)).json()
    grown = api.post(f"/v1/studies/{study['id']}/extend", json={"n_trials": 20})
    assert grown.status_code == 200, grown.text
    pointed = api.post(
        f"/v1/studies/{study['id']}/extend",
        json={"n_trials": 1, "points_to_evaluate": [{"lambda": 0.01}]},
    )
    assert pointed.status_code == 200, pointed.text

    stored = api.get(f"/v1/studies/{study['id']}").json()["definition"]
    _, noted = _noted(study)
    assert noted["budget"]["n_trials"] == 51
    assert noted["sampler"]["points_to_evaluate"] == [{"lambda": 0.01}]
    assert noted == stored


def test_a_shorter_note_leaves_nothing_of_the_longer_one_before_it(api: TestClient) -> None:
    study = optuna.create_study(storage=get_storage())
    save_new_study_note(storage_of(study), study_id_of(study), "x" * (2 * CHUNK_LENGTH + 1))
    with transaction() as session:
        rewrite_study_note(session, study_id_of(study), "short")
    assert get_note(study) == "short"
