"""What the API's reads of a study cost the database, and that what it remembers is what it
would render afresh: an ended study is read once, a running one on every request, and a process
reads its studies before it serves."""

from __future__ import annotations

import copy
from typing import Any

import optuna
import pytest
from fastapi.testclient import TestClient
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial
from sqlalchemy import update

from regtune.service.api.schemas.studies import StudyOut
from regtune.service.api.schemas.trials import TrialPage
from regtune.service.spec.definition import EXAMPLE
from regtune.service.spec.enums import StudyStatus
from regtune.service.store.db import transaction
from regtune.service.store.repos import studies
from regtune.service.store.scheduling.retries import get_storage
from regtune.service.store.tables import StudyRow
from regtune.service.store.trials.index import known_index
from tests.inprocess import Apps
from tests.service.optuna_studies import add_trials
from tests.support import sql_run, wait_for

optuna.logging.set_verbosity(optuna.logging.WARNING)
X = {"lambda": FloatDistribution(1e-5, 10, log=True)}
FOLD_NOISE = [0.01, -0.02, 0.0, 0.02, -0.01]


def _study(
    api: TestClient, name: str, n: int, *, relaxed: bool = False
) -> tuple[dict[str, Any], optuna.Study]:
    """A study of ``EXAMPLE`` with ``n`` trials; ``relaxed``: under 5 folds with relax searched
    (so ``objective.relax_margin`` chooses its best), its trials relaxed in turn."""
    body = {**copy.deepcopy(EXAMPLE), "name": name}
    if relaxed:
        body["validation"] = {"folds": 5}
        body["search_space"]["relax"] = {"low": 0.0, "high": 0.8}
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    assert bool(created.json()["definition"]["objective"]["relax_margin"]) is relaxed
    study = optuna.load_study(study_name=created.json()["optuna_study_name"], storage=get_storage())
    _add(study, n, relaxed=relaxed)
    return created.json(), study


def _add(study: optuna.Study, n: int, *, relaxed: bool = False) -> None:
    relax = {"relax": FloatDistribution(0.0, 0.8)} if relaxed else {}
    add_trials(
        study,
        [
            create_trial(
                state=TrialState.PRUNED if i % 3 == 0 else TrialState.COMPLETE,
                value=None if i % 3 == 0 else 1.0 / (i + 1),
                params={"lambda": 10.0 ** -(i % 5), **({"relax": 0.4 * (i % 2)} if relax else {})},
                distributions={**X, **relax},
                user_attrs={
                    "n_nonzero": i % 7,
                    "val_r2": 0.5,
                    **({"fold_values": [1.0 / (i + 1) + d for d in FOLD_NOISE]} if relax else {}),
                },
                intermediate_values={1: 2.0},
            )
            for i in range(n)
        ],
    )


def _end(api: TestClient, study_id: str) -> None:
    """Mark the study completed, as a worker would, and wait until the API shows it."""
    with transaction() as session:
        session.execute(
            update(StudyRow)
            .where(StudyRow.id == study_id)
            .values(status=StudyStatus.COMPLETED)
            .execution_options(synchronize_session=False)
        )
    wait_for(
        lambda: api.get(f"/v1/studies/{study_id}").json()["status"] == "completed",
        timeout=30,
        interval=0.1,
        what="the API to show the study completed",
    )


@pytest.mark.parametrize("relaxed", [False, True], ids=["best", "relax-margin"])
def test_an_ended_study_is_read_once_then_served_from_memory(
    api: TestClient, relaxed: bool
) -> None:
    created, _ = _study(api, f"ended-{relaxed}", 120, relaxed=relaxed)
    study_id = created["id"]
    _end(api, study_id)
    paths = [
        f"/v1/studies/{study_id}",
        f"/v1/studies/{study_id}/trials?offset=30&limit=50",
        f"/v1/studies/{study_id}/trials?state=PRUNED&offset=3&limit=20",
    ]
    first = [api.get(path).text for path in paths]
    with sql_run() as seen:
        again = [api.get(path).text for path in paths]
    assert again == first
    assert not [s for s in seen if "trial" in s.lower()], seen  # a study row may be re-read
    study = StudyOut.model_validate_json(first[0])
    assert study.counts["COMPLETE"] == 80 and study.counts["PRUNED"] == 40
    if relaxed:  # the relaxed best by value, better on every fold than the unrelaxed #118
        assert study.best_trial is not None and study.best_trial.number == 119
        assert study.selection is not None and "#118" in (study.selection.note or "")
    page = TrialPage.model_validate_json(first[1])
    assert [t.number for t in page.items] == list(range(30, 80)) and page.total == 120
    assert page.model_dump_json() == first[1]  # the joined bodies are pydantic's own page
    pruned = TrialPage.model_validate_json(first[2])
    assert [t.number for t in pruned.items] == list(range(9, 69, 3)) and pruned.total == 40


def test_a_no_cache_read_sees_another_process_end_the_study_at_once(api: TestClient) -> None:
    created, _ = _study(api, "waited-for", 3)
    study_id = created["id"]
    assert api.get(f"/v1/studies/{study_id}").json()["status"] == "queued"  # now remembered
    with transaction() as session:  # a worker ends it: this process is not told
        session.execute(
            update(StudyRow)
            .where(StudyRow.id == study_id)
            .values(status=StudyStatus.COMPLETED)
            .execution_options(synchronize_session=False)
        )
    # a plain read may answer "queued" for up to RECENT_SECONDS more; this one may not
    fresh = api.get(f"/v1/studies/{study_id}", headers={"Cache-Control": "no-cache"})
    assert fresh.json()["status"] == "completed"
    assert api.get(f"/v1/studies/{study_id}").json()["status"] == "completed"  # remembered


def test_a_running_study_shows_a_trial_at_once(api: TestClient) -> None:
    created, study = _study(api, "running", 10)
    path = f"/v1/studies/{created['id']}/trials?offset=0&limit=50"
    assert api.get(path).json()["total"] == 10
    _add(study, 1)
    assert api.get(path).json()["total"] == 11
    assert api.get(f"/v1/studies/{created['id']}").json()["counts"]["PRUNED"] == 5


def test_a_started_api_has_read_its_studies_before_serving(apps: Apps) -> None:
    api = apps()
    created, study = _study(api, "big", 300)
    database = apps.database_path(api)
    apps(database=database, warm_up=True)  # a new app on a copy: started, nothing asked
    index = known_index(studies.index_key(studies.get_row(created["id"])), study._study_id)
    assert index is not None and index.total(None) == 300


def test_the_trial_listing_says_which_trial_a_retry_re_runs(api: TestClient) -> None:
    """A retry's ``retried_from`` is the same in the listing as on its own route (the listing
    gave null: it read no system attribute), waiting and once it ran."""
    from regtune.service.store.scheduling.retries import queue_retry

    created, study = _study(api, "retried", 3)
    interrupted = study.ask({**X})
    study.tell(interrupted, state=TrialState.FAIL)
    queue_retry(study, study._storage.get_trial(interrupted._trial_id), max_retry=None)
    trials = f"/v1/studies/{created['id']}/trials"

    def retried_from() -> tuple[dict[int, Any], dict[int, Any]]:
        listed = {t["number"]: t["retried_from"] for t in api.get(trials).json()["items"]}
        alone = {n: api.get(f"{trials}/{n}").json()["retried_from"] for n in listed}
        return listed, alone

    expected = {0: None, 1: None, 2: None, 3: None, 4: 3}
    assert retried_from() == (expected, expected)
    rerun = study.ask()
    assert rerun.number == 4
    study.tell(rerun, 0.5)
    assert retried_from() == (expected, expected)
