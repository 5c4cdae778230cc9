"""The autoscaler's query, run on a real database made by ``regtune migrate``: it asks for as many
workers as the studies have slots open or being run, each study capped by its max_parallel, open
meaning what the claim means by it (a λ path's reserved points spent, the tenant cap kept)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, Table, create_engine, insert, text

from regtune.service.spec.enums import ACTIVE
from regtune.service.store.scheduling.claims import taking
from regtune.service.store.scheduling.scaling import scaler_query, wanted_workers
from tests.pg import BACKENDS, PostgresServer
from tests.support import Processes, process_env, regtune


@pytest.fixture(scope="module", params=BACKENDS)
def engine(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    module_processes: Processes,
) -> Iterator[Engine]:
    """One database per backend for the module, schema made by the `regtune migrate` command."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('scaler') / 'regtune.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("pg")
        url = server.create_database(f"t_{uuid.uuid4().hex[:12]}")
    migrate = module_processes.run(regtune("migrate"), env=process_env(url))
    assert migrate.returncode == 0, migrate.stderr
    made = create_engine(url)
    yield made
    made.dispose()


def study(
    status: str,
    n_trials: int,
    max_parallel: int,
    *,
    n_done: int = 0,
    n_running: int = 0,
    n_reserved: int = 0,
    stopped_by: str | None = None,
    deadline: datetime | None = None,
    slots_per_claim: int | None = None,
    per_worker: int = 1,
    tenant: str = "default",
    created: bool = True,
) -> dict[str, Any]:
    """A study's row, and (``CLAIMS``) its ``n_running`` claims, ``per_worker`` to a worker (a
    fused pass's members share one), and its ``n_reserved`` reserved ones, a λ path's further
    points, held by its first claim's worker; ``created``: False while the API is still
    creating its Optuna study."""
    name = uuid.uuid4().hex
    now = datetime(2026, 1, 1)
    workers = [f"{name[:8]}-w{i // per_worker}" for i in range(n_running)]
    return {
        "id": name,
        "tenant": tenant,
        "name": name,
        "optuna_name": name,
        "optuna_study_id": next(OPTUNA_IDS) if created else None,
        "spec": {},
        "status": status,
        "n_trials": n_trials,
        "max_parallel": max_parallel,
        "n_running": n_running,
        "n_reserved": n_reserved,
        "n_done": n_done,
        "max_retries": 2,
        "n_claims": n_done + n_running + n_reserved,
        "n_errors": 0,
        "created_at": now,
        "updated_at": now,
        "stopped_by": stopped_by,
        "deadline": deadline,
        "slots_per_claim": slots_per_claim,
        CLAIMS: [(w, False) for w in workers] + [(w, True) for w in workers[:1] * n_reserved],
    }


CLAIMS = "claims"
"""Not a column: the workers of a study's claims and whether each is reserved, one entry a
claim."""
OPTUNA_IDS = itertools.count(1_000_000)
"""Optuna study ids no trial of the test database belongs to."""


def insert_studies(connection: Any, rows: list[dict[str, Any]]) -> None:
    """The studies, and the claims their workers hold (as n_running and n_reserved count them)."""
    if not rows:
        return
    studies = Table("regtune_studies", MetaData(), autoload_with=connection)
    claims = Table("regtune_claims", MetaData(), autoload_with=connection)
    connection.execute(insert(studies), [{k: v for k, v in r.items() if k != CLAIMS} for r in rows])
    held = [
        {"study_id": r["id"], "worker_id": w, "seq": i, "claimed_at": r["created_at"]}
        | {"reserved": reserved}
        for r in rows
        for i, (w, reserved) in enumerate(r[CLAIMS])
    ]
    if held:
        connection.execute(insert(claims), held)


PASSED, AHEAD = datetime(2026, 1, 1, 12), datetime(2100, 1, 1)


CASES: dict[str, tuple[list[dict[str, Any]], int]] = {
    "nothing": ([], 0),
    "queued": ([study("queued", 10, 4)], 4),
    "queued-budget-below-max-parallel": ([study("queued", 2, 4)], 2),
    "running-some-slots-busy": ([study("running", 10, 4, n_done=3, n_running=2)], 4),
    "running-last-trials": ([study("running", 10, 4, n_done=8, n_running=1)], 2),
    "running-max-parallel-reached": ([study("running", 20, 3, n_done=5, n_running=3)], 3),
    "running-budget-met": ([study("running", 10, 4, n_done=10)], 0),
    "running-overcounted": ([study("running", 10, 4, n_done=12)], 0),
    # its stop rule met (budget.stop): no slot opens, its running trials finish
    "stopped-trials-finishing": (
        [study("running", 10, 4, n_done=3, n_running=2, stopped_by="patience")],
        2,
    ),
    "stopped-drained": ([study("running", 10, 4, n_done=3, stopped_by="value")], 0),
    # its deadline (budget.timeout_s) passed: no claim takes a slot, its running trials finish
    "deadline-passed-trials-finishing": (
        [study("running", 10, 4, n_done=3, n_running=2, deadline=PASSED)],
        2,
    ),
    "deadline-passed-drained": ([study("running", 10, 4, n_done=3, deadline=PASSED)], 0),
    "deadline-passed-queued": ([study("queued", 10, 4, deadline=PASSED)], 0),
    "deadline-ahead": ([study("running", 10, 4, n_done=3, n_running=2, deadline=AHEAD)], 4),
    # completed with neither a saved model nor the word why it has none (none of its trials
    # completed, and its deadline ended it): an idle worker's catch-up says it (was: 0, and the
    # word never came)
    "completed": ([study("completed", 10, 4, n_done=10)], 1),
    "cancelled-trials-stopping": ([study("cancelled", 10, 4, n_done=2, n_running=3)], 0),
    "failed": ([study("failed", 10, 4, n_done=1, n_running=1)], 0),
    # MLPs: one worker's claim takes a fused pass's slots, 8 here (was: a worker per slot)
    "fused-one-pass": ([study("queued", 50, 8, slots_per_claim=8)], 1),
    "fused-two-passes": ([study("queued", 50, 16, slots_per_claim=8)], 2),
    "fused-a-pass-and-a-part": (
        [study("running", 50, 12, n_running=8, slots_per_claim=8, per_worker=8)],
        2,
    ),
    # a member of a pass of 8 pruned early: its slot is open, the pass still runs on one worker
    "fused-a-member-given-back": (
        [study("running", 50, 8, n_done=1, n_running=7, slots_per_claim=8, per_worker=8)],
        2,
    ),
    "fused-last-trials": ([study("running", 50, 16, n_done=45, slots_per_claim=8)], 1),
    "fused-stopped-trials-finishing": (
        [
            study(
                "running",
                50,
                16,
                n_done=3,
                n_running=8,
                stopped_by="patience",
                slots_per_claim=8,
                per_worker=8,
            )
        ],
        1,
    ),
    "fused-drained": ([study("running", 50, 8, n_done=50, slots_per_claim=8)], 0),
    "one-slot-a-claim": ([study("queued", 10, 4, slots_per_claim=1)], 4),
    # a λ path's further points are reserved: budget spent, not slots open (was: 3 here)
    "path-ends-the-budget": (
        [study("running", 24, 3, n_done=21, n_running=1, n_reserved=2)],
        1,
    ),
    "path-leaves-a-slot": ([study("running", 24, 4, n_done=15, n_running=1, n_reserved=6)], 3),
    "path-reserved-the-rest-queued": ([study("running", 24, 4, n_running=1, n_reserved=23)], 1),
    # the API has not yet created its Optuna study: nothing can claim it yet (was: 4)
    "being-created": ([study("queued", 10, 4, created=False)], 0),
}
CAPPED: dict[str, tuple[list[dict[str, Any]], int, int]] = {
    # REGTUNE_TENANT_MAX_RUNNING=1: one trial of the tenant runs, whatever max_parallel (was: 3)
    "one-study-over-the-cap": ([study("queued", 10, 3, tenant="a")], 1, 1),
    "cap-above-the-study": ([study("queued", 10, 3, tenant="a")], 5, 3),
    "cap-reached": ([study("running", 10, 3, n_running=1, tenant="a")], 1, 1),
    "cap-shared-by-studies": (
        [study("queued", 10, 3, tenant="a"), study("running", 10, 3, n_running=1, tenant="a")],
        3,
        3,
    ),
    "each-tenant-its-own-cap": (
        [study("queued", 10, 3, tenant="a"), study("queued", 10, 3, tenant="b")],
        2,
        4,
    ),
    # a cancelled study's trials still stopping count against the cap, as the claim counts them
    "cancelled-trials-hold-the-cap": (
        [study("cancelled", 10, 3, n_running=2, tenant="a"), study("queued", 10, 3, tenant="a")],
        3,
        1,
    ),
    # the cap was lowered under what runs: its running trials' workers only
    "over-the-cap": ([study("running", 10, 4, n_running=3, tenant="a")], 2, 3),
    "fused-pass-cut-by-the-cap": ([study("queued", 50, 16, slots_per_claim=8)], 8, 1),
    "fused-pass-under-the-cap": ([study("queued", 50, 16, slots_per_claim=8)], 12, 2),
    # two fused studies share the room: a bound (the first pass takes all 8; a second pod idles)
    "fused-studies-share-the-cap": (
        [study("queued", 50, 8, slots_per_claim=8), study("queued", 50, 8, slots_per_claim=8)],
        8,
        2,
    ),
}
BOUNDS = {"fused-studies-share-the-cap"}
"""Cases whose answer is an upper bound of the workers claims would serve (scaling.py says when)."""
CASES["all-at-once"] = (
    [row for rows, _ in CASES.values() for row in rows],
    sum(wanted for _, wanted in CASES.values()),
)


@pytest.mark.parametrize("case", list(CASES))
def test_scaler_query_counts_the_slots_workers_could_use(engine: Engine, case: str) -> None:
    rows, expected = CASES[case]
    with engine.connect() as connection, connection.begin() as transaction:
        insert_studies(connection, rows)
        assert wanted_workers(connection) == expected
        # what KEDA's scaler reads (on PostgreSQL, the chart's query): one row of one number
        query = scaler_query(engine.dialect.name, tenant_max_running=0)
        result = connection.execute(text(query)).all()
        assert result == [(expected,)]
        transaction.rollback()


@pytest.mark.parametrize("case", list(CAPPED))
def test_scaler_query_keeps_to_the_tenant_cap(engine: Engine, case: str) -> None:
    rows, cap, expected = CAPPED[case]
    with engine.connect() as connection, connection.begin() as transaction:
        insert_studies(connection, rows)
        assert wanted_workers(connection, tenant_max_running=cap) == expected
        # the chart writes the workers' cap into the query KEDA runs
        chart = scaler_query(engine.dialect.name, tenant_max_running=cap)
        assert ":tenant_max_running" not in chart
        assert connection.execute(text(chart)).all() == [(expected,)]
        transaction.rollback()


CLAIMED = {f"{case}@cap=0": (rows, 0) for case, (rows, _) in CASES.items()} | {
    f"{case}@cap={cap}": (rows, cap) for case, (rows, cap, _) in CAPPED.items()
}


@pytest.mark.parametrize("case", list(CLAIMED))
def test_the_query_wants_the_workers_that_claims_would_serve(engine: Engine, case: str) -> None:
    """Workers claim, as a worker does (one slot, then a fused pass's further ones), until a
    claim finds nothing: the query asked for those that got slots, plus the ones running, plus
    one for each completed study still to catch up (here none has a model or the word why)."""
    rows, cap = CLAIMED[case]
    with engine.begin() as connection:
        insert_studies(connection, rows)
        wanted = wanted_workers(connection, tenant_max_running=cap)
    try:
        served = 0
        while claim := taking.claim(engine, worker_id=f"new-{served}", tenant_max_running=cap):
            per_claim = next(r["slots_per_claim"] or 1 for r in rows if r["id"] == claim.study_id)
            if per_claim > 1:
                taking.claim_slots(
                    engine,
                    worker_id=f"new-{served}",
                    slots=per_claim - 1,
                    study_id=claim.study_id,
                    tenant_max_running=cap,
                )
            served += 1
            assert served <= sum(r["n_trials"] for r in rows), "claims never ran out"
    finally:
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM regtune_claims"))
            connection.execute(text("DELETE FROM regtune_studies"))
    running = {
        w for r in rows if r["status"] in ACTIVE for w, reserved in r[CLAIMS] if not reserved
    }
    catching_up = sum(r["status"] == "completed" for r in rows)
    if case.split("@")[0] in BOUNDS:
        assert wanted >= len(running) + served + catching_up
    else:
        assert wanted == len(running) + served + catching_up


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Kiritimati", "Etc/GMT+12"])
def test_a_deadline_is_read_on_utc_whatever_the_sessions_time_zone(
    engine: Engine, zone: str
) -> None:
    """Deadlines are stored as naive UTC times; KEDA's connection sets no time zone, so the
    server's (+14:00 or -12:00 here) must not move a deadline an hour away to either side."""
    now = datetime.now(UTC).replace(tzinfo=None)
    soon = study("running", 10, 4, n_done=3, n_running=1, deadline=now + timedelta(hours=1))
    late = study("running", 10, 4, n_done=3, n_running=1, deadline=now - timedelta(hours=1))
    with engine.connect() as connection, connection.begin() as transaction:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"SET LOCAL TimeZone = '{zone}'"))
        insert_studies(connection, [soon])
        assert wanted_workers(connection) == 4  # its slots are open for another hour
        insert_studies(connection, [late])
        assert wanted_workers(connection) == 4 + 1  # the other's running trial only
        transaction.rollback()
