"""The note optuna-dashboard shows on a study, written in the dashboard's own attribute format.

``optuna_dashboard.save_note`` does the same, but importing ``optuna_dashboard`` imports its
whole app (scikit-learn and SciPy with it): about a second of every API process's start, for
two attribute writes. tests/service/test_optuna_contract.py reads a note written here back with
optuna-dashboard's own ``get_note``, so a change of the format fails a test.
"""

from __future__ import annotations

import json

from optuna.storages import BaseStorage
from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session

from regtune.service.store.optuna_db.internals.handles import om

VERSION_KEY = "dashboard:note_ver"
CHUNK_PREFIX = "dashboard:note_str:"
CHUNK_LENGTH = 2045
"""The dashboard's longest system attribute string."""


def save_new_study_note(storage: BaseStorage, study_id: int, body: str) -> None:
    """The first note of a study (one that has none yet): version 1 and the body in chunks."""
    storage.set_study_system_attr(study_id, VERSION_KEY, 1)
    for key, chunk in _chunks(body).items():
        storage.set_study_system_attr(study_id, key, chunk)


def rewrite_study_note(session: Session, study_id: int, body: str) -> None:
    """Replace the study's note in ``session``'s transaction, as the dashboard's own save does:
    the next version, the body in chunks, and those of a longer note before it blanked (the
    dashboard joins every chunk it finds)."""
    attr = om.StudySystemAttributeModel
    rows = session.execute(
        select(attr.key, attr.value_json).where(
            attr.study_id == study_id,
            or_(attr.key == VERSION_KEY, attr.key.startswith(CHUNK_PREFIX, autoescape=True)),
        )
    )
    stored: dict[str, str] = {key: value for key, value in rows}
    version = int(json.loads(stored.get(VERSION_KEY, "0"))) + 1
    blanked = {key: "" for key in stored if key != VERSION_KEY}
    for key, value in {VERSION_KEY: version, **blanked, **_chunks(body)}.items():
        if key in stored:
            session.execute(
                update(attr)
                .where(attr.study_id == study_id, attr.key == key)
                .values(value_json=json.dumps(value))
                .execution_options(synchronize_session=False)
            )
        else:
            session.execute(
                insert(attr).values(study_id=study_id, key=key, value_json=json.dumps(value))
            )


def _chunks(body: str) -> dict[str, str]:
    return {
        f"{CHUNK_PREFIX}{i}": body[start : start + CHUNK_LENGTH]
        for i, start in enumerate(range(0, len(body), CHUNK_LENGTH))
    }
