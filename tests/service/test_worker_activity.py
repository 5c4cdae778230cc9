"""``GET /v1/workers`` tells what each worker is doing from the store as it is now: a slot with
no trial started (setting up), a RUNNING trial, the best-model lease it holds. A heartbeat names
the study and trial of up to an interval ago, and an activity read from it alone showed a worker
setting up while its trial ran, and saving a model another worker saved."""

from __future__ import annotations

import re
from datetime import timedelta

import optuna
import pytest
from fastapi.testclient import TestClient

from regtune.service.settings import Settings
from regtune.service.spec.definition import StudySpec
from regtune.service.store.clock import utcnow
from regtune.service.store.db import transaction
from regtune.service.store.optuna_db.internals.handles import storage_of, trial_id_of
from regtune.service.store.optuna_db.internals.worker_cache import WorkerHeartbeats
from regtune.service.store.repos import model_lease
from regtune.service.store.repos.studies import create_study
from regtune.service.store.scheduling import workers
from regtune.service.store.scheduling.claims import finishing
from regtune.service.store.scheduling.claims.links import link_trial
from regtune.service.store.scheduling.claims.slot import Claim
from regtune.service.store.scheduling.claims.taking import claim
from regtune.service.store.scheduling.retries import get_storage
from regtune.service.store.tables import StudyRow
from tests.inprocess import cli_output
from tests.service.stores import opened
from tests.service.test_rest_contract import definition

SETTINGS = Settings(heartbeat_interval=1, grace_period=60)


def _claimed(worker_id: str) -> Claim:
    taken = claim(worker_id=worker_id)
    assert taken is not None
    return taken


def _started(taken: Claim) -> tuple[optuna.Study, optuna.trial.Trial]:
    """The claim's trial, RUNNING and linked to it as a worker's is."""
    study = optuna.load_study(study_name=taken.optuna_name, storage=WorkerHeartbeats(get_storage()))
    trial = study.ask()
    assert link_trial(storage_of(study), trial_id_of(trial), taken)
    return study, trial


def _optuna_id(study_id: str) -> int:
    with transaction() as session:
        row = session.get(StudyRow, study_id)
        assert row is not None and row.optuna_study_id is not None
        return row.optuna_study_id


def _activities(api: TestClient) -> dict[str, tuple[str | None, int | None, str]]:
    return {
        w["id"]: (w["study_id"], w["trial_number"], w["activity"])
        for w in api.get("/v1/workers").json()
    }


def test_a_worker_setting_up_its_claim_is_told_from_one_saving_a_best_model(
    api: TestClient,
) -> None:
    study = api.post("/v1/studies", json=definition("activity")).json()
    for worker_id in ("idle", "setting-up", "running", "saving"):
        workers.register(worker_id, settings=SETTINGS)
    _claimed("setting-up")
    workers.beat("setting-up", study_id=study["id"], trial_number=None)
    _, trial = _started(_claimed("running"))
    workers.beat("running", study_id=study["id"], trial_number=trial.number)
    assert model_lease.take_lease(_optuna_id(study["id"]), "save", worker_id="saving")
    workers.beat("saving", study_id=study["id"], trial_number=None)  # holds no slot

    assert _activities(api) == {
        "idle": (None, None, "idle"),
        "setting-up": (study["id"], None, "setting_up"),
        "running": (study["id"], trial.number, "running_trial"),
        "saving": (study["id"], None, "saving_best_model"),
    }


def test_an_activity_rests_on_the_store_not_on_the_last_heartbeat(api: TestClient) -> None:
    """Each worker's last heartbeat is from before what it does now."""
    study = api.post("/v1/studies", json=definition("activity-stale")).json()
    osid = _optuna_id(study["id"])
    for worker_id in ("started", "finished", "not-saver", "lease-ran-out"):
        workers.register(worker_id, settings=SETTINGS)
    # its heartbeat is from the setup; the trial started since
    started = _claimed("started")
    workers.beat("started", study_id=study["id"], trial_number=None)
    _started(started)
    # its heartbeat is from the trial; the trial ended since, its slot given back
    done = _claimed("finished")
    optuna_study, trial = _started(done)
    workers.beat("finished", study_id=study["id"], trial_number=trial.number)
    finishing.finish_when_told(storage_of(optuna_study), trial_id_of(trial), done)
    optuna_study.tell(trial, 1.0)
    # its heartbeat is from a setup given up; another worker holds the study's lease
    workers.beat("not-saver", study_id=study["id"], trial_number=None)
    assert model_lease.take_lease(osid, "theirs", worker_id="elsewhere")
    # nobody's lease yet; then its own, taken longer ago than a lease lasts
    workers.beat("lease-ran-out", study_id=study["id"], trial_number=None)

    assert {w: a for w, (_, _, a) in _activities(api).items()} == {
        "started": "running_trial",
        "finished": "idle",
        "not-saver": "idle",
        "lease-ran-out": "idle",
    }
    long_ago = utcnow() - model_lease.LEASE - timedelta(seconds=1)
    model_lease.release_lease(osid, "theirs")
    assert model_lease.take_lease(osid, "old", worker_id="lease-ran-out", now=long_ago)
    assert _activities(api)["lease-ran-out"][2] == "idle"


def test_the_listing_reads_a_slot_s_running_trial_on_both_backends(database_url: str) -> None:
    """The statement behind the listing (the claim's id matched to its trial's link)."""
    with opened(database_url) as db:
        spec = StudySpec.model_validate({**definition("activity-store"), "task": "regression"})
        row = create_study(spec, engine=db.engine, storage=db.storage)
        held = []
        for worker_id in ("setting-up", "running"):
            workers.register(worker_id, engine=db.engine, settings=SETTINGS)
            held.append(claim(engine=db.engine, worker_id=worker_id))
        taken = held[-1]
        assert None not in held and taken is not None
        study = optuna.load_study(study_name=row.optuna_name, storage=WorkerHeartbeats(db.storage))
        trial = study.ask()
        assert link_trial(storage_of(study), trial_id_of(trial), taken, engine=db.engine)
        doing = {r.id: (d.running, d.holds_slot) for r, d in workers.at_work(engine=db.engine)}
    assert doing == {"setting-up": (False, True), "running": (True, True)}


def test_regtune_workers_says_what_a_worker_without_a_trial_does(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = api.post("/v1/studies", json=definition("activity-cli")).json()
    for worker_id in ("idle", "setting-up", "saving"):
        workers.register(worker_id, settings=SETTINGS)
    _claimed("setting-up")
    workers.beat("setting-up", study_id=study["id"], trial_number=None)
    assert model_lease.take_lease(_optuna_id(study["id"]), "save", worker_id="saving")
    workers.beat("saving", study_id=study["id"], trial_number=None)

    shown = cli_output(api, monkeypatch, "workers")  # the table's lines joined by spaces
    rows = dict(re.findall(r"│ ([a-z-]+) │ [^│]+ │ \d+ │ [^│]+ │ ([^│]+?) │ \d{4}-", shown))
    assert rows == {"idle": "-", "setting-up": "setting up", "saving": "saving model"}
