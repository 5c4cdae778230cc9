"""Pool policies no definition can override (issue 22, item 1): a tenant's running trials are
capped by ``REGTUNE_TENANT_MAX_RUNNING`` in the claim itself (SQLite and PostgreSQL, claimers
racing in threads), and a worker that ``regtune serve`` had to kill on shutdown has its trial
handed back, not counted as a death: a study with ``max_retries: 0`` goes on."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator

import optuna
import pytest
from optuna.trial import TrialState

from regtune.service.spec.definition import StudySpec
from regtune.service.spec.enums import StudyStatus
from regtune.service.store.db import transaction
from regtune.service.store.optuna_db.internals.handles import trial_id_of
from regtune.service.store.repos.study_creation import create_study
from regtune.service.store.scheduling import workers as workers
from regtune.service.store.scheduling.claims import finishing, links, taking
from regtune.service.store.scheduling.claims.slot import Claim
from regtune.service.store.scheduling.retries import (
    KILLED_ON_SHUTDOWN,
    hand_back_killed_worker,
)
from regtune.service.store.tables import ClaimRow, StudyRow, WorkerRow
from tests.service.stores import Db, opened

optuna.logging.set_verbosity(optuna.logging.WARNING)
CAP = 3


@pytest.fixture
def db(database_url: str) -> Iterator[Db]:
    with opened(database_url) as found:
        yield found


def study(db: Db, *, tenant: str, max_parallel: int = 50, max_retries: int = 2) -> StudyRow:
    spec = StudySpec.model_validate(
        {
            "name": f"s-{uuid.uuid4().hex[:8]}",
            "dataset": {"builtin": "diabetes"},
            "budget": {"n_trials": 100, "max_parallel": max_parallel, "max_retries": max_retries},
        }
    )
    return create_study(spec, tenant=tenant, engine=db.engine, storage=db.storage)


def running_of(db: Db, tenant: str) -> int:
    with transaction(db.engine) as session:
        rows = session.query(StudyRow).filter(StudyRow.tenant == tenant).all()
        return sum(r.n_running for r in rows)


def test_a_tenants_running_trials_are_capped_across_its_studies(db: Db) -> None:
    greedy = [study(db, tenant="greedy") for _ in range(3)]
    other = study(db, tenant="other")
    taken: list[Claim | None] = []
    lock = threading.Lock()

    def claimer() -> None:
        for _ in range(4):
            got = taking.claim(db.engine, worker_id="w", tenant_max_running=CAP)
            with lock:
                taken.append(got)

    threads = [threading.Thread(target=claimer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    won = [c for c in taken if c is not None]
    assert running_of(db, "greedy") == CAP
    assert sum(c.study_id in {s.id for s in greedy} for c in won) == CAP
    # the other tenant was served while the greedy one sat at its cap
    assert any(c.study_id == other.id for c in won)
    assert running_of(db, "other") == CAP
    # a slot given back is claimable again, and only one
    first = next(c for c in won if c.study_id == greedy[0].id or c.study_id == greedy[1].id)
    finishing.finish(db.engine, claim_id=first.id, study_id=first.study_id, seq=first.seq)
    again = [taking.claim(db.engine, worker_id="w", tenant_max_running=CAP) for _ in range(3)]
    assert sum(c is not None for c in again) == 1
    assert running_of(db, "greedy") == CAP


def test_without_the_setting_only_max_parallel_limits(db: Db) -> None:
    study(db, tenant="t", max_parallel=4)
    got = [taking.claim(db.engine, worker_id="w") for _ in range(5)]
    assert sum(c is not None for c in got) == 4


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_worker_killed_on_shutdown_hands_its_trial_back(db: Db) -> None:
    row = study(db, tenant="t", max_retries=0)
    worker_id = f"killed-{uuid.uuid4().hex[:6]}"
    workers.register(worker_id, engine=db.engine)
    claim = taking.claim(db.engine, worker_id=worker_id)
    assert claim is not None
    optuna_study = optuna.load_study(study_name=claim.optuna_name, storage=db.storage)
    trial = optuna_study.ask()
    assert links.link_trial(db.storage, trial_id_of(trial), claim, engine=db.engine)

    released = hand_back_killed_worker(
        host=socket.gethostname(), pid=os.getpid(), engine=db.engine, storage=db.storage
    )

    assert released == 1
    trials = optuna_study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING]
    assert trials[1].params == trials[0].params
    assert trials[0].user_attrs["error"] == KILLED_ON_SHUTDOWN  # was a FAIL saying nothing
    assert "error" not in trials[1].user_attrs
    with transaction(db.engine) as session:
        after = session.get(StudyRow, row.id)
        assert after is not None
        assert (after.status, after.n_running, after.n_errors) == (StudyStatus.RUNNING, 0, 0)
        assert session.query(ClaimRow).count() == 0
        assert session.get(WorkerRow, worker_id) is None
    retry = taking.claim(db.engine, worker_id="next")
    assert retry is not None and retry.study_id == row.id
