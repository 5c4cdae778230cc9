"""The note optuna-dashboard shows on a study, written in the dashboard's own attribute format.

``optuna_dashboard.save_note`` does the same, but importing ``optuna_dashboard`` imports its
whole app (scikit-learn and SciPy with it): about a second of every API process's start, for
two attribute writes. tests/service/test_optuna_contract.py reads a note written here back with
optuna-dashboard's own ``get_note``, so a change of the format fails a test.
"""

from __future__ import annotations

from optuna.storages import BaseStorage

VERSION_KEY = "dashboard:note_ver"
CHUNK_PREFIX = "dashboard:note_str:"
CHUNK_LENGTH = 2045
"""The dashboard's longest system attribute string."""


def save_new_study_note(storage: BaseStorage, study_id: int, body: str) -> None:
    """The first note of a study (one that has none yet): version 1 and the body in chunks."""
    storage.set_study_system_attr(study_id, VERSION_KEY, 1)
    for i, start in enumerate(range(0, len(body), CHUNK_LENGTH)):
        storage.set_study_system_attr(
            study_id, f"{CHUNK_PREFIX}{i}", body[start : start + CHUNK_LENGTH]
        )
