"""``validation: {folds: 3, test_fraction: 0}`` on a built-in dataset: ``show``, ``best`` and the
report said "validation.test_fraction 0, an upload's default under folds", the reason of an
upload that left test_fraction out, for a study that gave it. Now they say what is true of
both: test_fraction 0, every row in the folds (an upload's ``validation.chosen_by`` says the
default)."""

from __future__ import annotations

import optuna
import pytest
from fastapi.testclient import TestClient
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial
from sqlalchemy import update

from regtune.service.cli.summary import NO_TEST_SPLIT
from regtune.service.store.db import transaction
from regtune.service.store.scheduling.retries import get_storage
from regtune.service.store.tables import StudyRow
from tests.inprocess import cli_result
from tests.service.test_client_optuna import STUDY


def test_a_built_in_dataset_without_a_test_split_is_not_called_an_upload(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    definition = STUDY | {
        "name": "no-test",
        "dataset": {"builtin": "diabetes"},
        "validation": {"folds": 3, "test_fraction": 0},
    }
    created = api.post("/v1/studies", json=definition)
    assert created.status_code == 201, created.text
    body = created.json()  # no worker: trials added here
    study = optuna.load_study(study_name=body["optuna_study_name"], storage=get_storage())
    for lam, value in ((1e-3, 0.52), (1e-2, 0.5)):
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE,
                value=value,
                params={"lambda": lam},
                distributions={"lambda": FloatDistribution(1e-4, 1.0, log=True)},
                user_attrs={"n_nonzero": 8},
            )
        )
    with transaction() as session:
        session.execute(
            update(StudyRow).where(StudyRow.id == body["id"]).values(status="completed")
        )

    for command in ("show", "best"):  # best: the trial, then no model saved yet (exit 1)
        said = " ".join(cli_result(api, monkeypatch, command, body["id"]).output.split())
        assert f"test: {NO_TEST_SPLIT}" in said, said
        assert "upload" not in said, said
    assert "validation.test_fraction 0: every row validates in the folds" in NO_TEST_SPLIT
    html = api.get(f"/v1/studies/{body['id']}/report").text
    note = html.split('id="no-test-split">')[1].split("</p>")[0]
    assert "validation.test_fraction: 0</code>): every row was in the validation" in note, note
    assert "upload" not in note, note
