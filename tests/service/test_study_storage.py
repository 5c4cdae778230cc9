"""A study's definition is stored once, in its row: the Optuna study gets its objectives and the
note optuna-dashboard shows, and no copy of the definition or of its budget."""

from __future__ import annotations

import optuna
from optuna_dashboard import get_note

from regtune.service.spec.definition import StudySpec
from regtune.service.store.db import make_engine, transaction
from regtune.service.store.migrate import upgrade
from regtune.service.store.repos.study_creation import create_study
from regtune.service.store.scheduling.retries import storage_with_retries
from regtune.service.store.tables import StudyRow


def test_the_definition_is_stored_once(database_url: str) -> None:
    upgrade(database_url)
    engine, storage = make_engine(database_url), storage_with_retries(database_url)
    spec = StudySpec.model_validate(
        {
            "name": "once",
            "dataset": {"synthetic": {"kind": "sparse_regression"}},
            "task": "regression",
            "sampler": {"type": "tpe", "seed": 0},  # stored as given (none given: one drawn)
            "budget": {"n_trials": 3, "max_retries": 1},
        }
    )
    try:
        row = create_study(spec, engine=engine, storage=storage)
        with transaction(engine) as session:
            stored = session.get(StudyRow, row.id)
        assert stored is not None and stored.spec == spec.to_stored()
        assert stored.max_retries == 1

        study = optuna.load_study(study_name=row.optuna_name, storage=storage)
        assert study.user_attrs == {}
        system = storage.get_study_system_attrs(stored.optuna_study_id or -1)
        assert not [k for k in system if k.startswith("regtune:")]
        assert f"/v1/studies/{row.id}" in get_note(study)  # what the dashboard shows
    finally:
        engine.dispose()
        storage.engine.dispose()
