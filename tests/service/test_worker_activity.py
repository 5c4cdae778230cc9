"""``GET /v1/workers`` tells what each worker is doing from the store as it is now: a slot with
no trial started (setting up), a RUNNING trial, the best-model lease it holds. A heartbeat names
the study and trial of up to an interval ago, and an activity read from it alone showed a worker
setting up while its trial ran, and saving a model another worker saved; a study and trial read
from it beside the store's activity showed a trial that had ended, or a study beside ``idle``."""

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
from regtune.service.store.repos.study_creation import create_study
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


def test_a_row_s_study_and_trial_are_those_of_its_activity_not_of_the_last_heartbeat(
    api: TestClient,
) -> None:
    """Polled every 0.3 s under 3 workers, rows said ``trial_number: 4, running_trial`` while
    trial 4 was COMPLETE, ``trial_number: 4, saving_best_model``, ``study_id: null,
    running_trial`` and a study beside ``idle``: the study and trial came from the heartbeat."""
    study = api.post("/v1/studies", json=definition("activity-row", n_trials=10)).json()
    for worker_id in ("stale", "told", "moved-on", "unbeaten", "saving", "saving-unbeaten"):
        workers.register(worker_id, settings=SETTINGS)
    # its heartbeat names trial 4; it holds nothing now
    workers.beat("stale", study_id=study["id"], trial_number=4)
    # its trial is COMPLETE, its slot not given back yet
    optuna_study, told = _started(_claimed("told"))
    workers.beat("told", study_id=study["id"], trial_number=told.number)
    optuna_study.tell(told, 1.0)
    # its heartbeat names the trial it ended; it runs the next one
    done = _claimed("moved-on")
    optuna_study, ended = _started(done)
    workers.beat("moved-on", study_id=study["id"], trial_number=ended.number)
    finishing.finish_when_told(storage_of(optuna_study), trial_id_of(ended), done)
    optuna_study.tell(ended, 1.0)
    _, next_trial = _started(_claimed("moved-on"))
    # its trial started before its first heartbeat named it
    _, unbeaten = _started(_claimed("unbeaten"))
    # saving: one's heartbeat names its last trial, the other's no study yet
    other = api.post("/v1/studies", json=definition("activity-row-2")).json()
    workers.beat("saving", study_id=study["id"], trial_number=4)
    assert model_lease.take_lease(_optuna_id(study["id"]), "a", worker_id="saving")
    assert model_lease.take_lease(_optuna_id(other["id"]), "b", worker_id="saving-unbeaten")

    assert _activities(api) == {
        "stale": (None, None, "idle"),
        "told": (study["id"], None, "setting_up"),
        "moved-on": (study["id"], next_trial.number, "running_trial"),
        "unbeaten": (study["id"], unbeaten.number, "running_trial"),
        "saving": (study["id"], None, "saving_best_model"),
        "saving-unbeaten": (other["id"], None, "saving_best_model"),
    }


def test_the_listing_reads_slots_trials_and_leases_on_both_backends(database_url: str) -> None:
    """The statement behind the listing (a claim's id matched to its trial's link, a lease's
    JSON to its worker), whatever each heartbeat says."""
    with opened(database_url) as db:
        spec = StudySpec.model_validate({**definition("activity-store"), "task": "regression"})
        row = create_study(spec, engine=db.engine, storage=db.storage)
        held = []
        for worker_id in ("setting-up", "running", "saving", "stale"):
            workers.register(worker_id, engine=db.engine, settings=SETTINGS)
            workers.beat(worker_id, study_id=row.id, trial_number=7, engine=db.engine)
        for worker_id in ("setting-up", "running"):
            held.append(claim(engine=db.engine, worker_id=worker_id))
        taken = held[-1]
        assert None not in held and taken is not None
        study = optuna.load_study(study_name=row.optuna_name, storage=WorkerHeartbeats(db.storage))
        trial = study.ask()
        assert link_trial(storage_of(study), trial_id_of(trial), taken, engine=db.engine)
        assert row.optuna_study_id is not None
        assert model_lease.take_lease(
            row.optuna_study_id, "save", worker_id="saving", engine=db.engine
        )
        doing = {r.id: d for r, d in workers.at_work(engine=db.engine)}
    at = workers.Work(row.id, "default")
    assert {w: (d.running, d.saving, d.claimed) for w, d in doing.items()} == {
        "setting-up": (None, None, at),
        "running": (workers.Work(row.id, "default", trial.number), None, at),
        "saving": (None, at, None),
        "stale": (None, None, None),
    }
    assert doing["saving"].lease is not None


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
