"""An idle worker is woken by a commit to its SQLite database, or a notification of its
PostgreSQL database, instead of sleeping out its back-off: a study submitted to idle workers
starts at once (``scheduling.wake``)."""

from __future__ import annotations

import contextvars
import copy
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, insert, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool

from regtune.service.spec.definition import EXAMPLE
from regtune.service.store.clock import utcnow
from regtune.service.store.db import make_engine
from regtune.service.store.migrate import upgrade
from regtune.service.store.scheduling.wake import Changes, sqlite_file
from regtune.service.store.tables import StudyRow
from regtune.worker import loop
from tests.inprocess import Apps
from tests.pg import PostgresServer
from tests.support import wait_for

HOUR = 3600.0


def _waiting(changes: Changes, stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(target=changes.wait, args=(HOUR, stop))
    thread.start()
    return thread


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[sqlite3.Connection, Changes]]:
    """Another connection to a SQLite file, and a worker's watch of that file, marked."""
    path = tmp_path / "watched.db"
    with closing(sqlite3.connect(path)) as other:
        other.execute("CREATE TABLE t (x)")
        other.commit()
        changes = Changes(f"sqlite:///{path}")
        changes.mark()
        yield other, changes
        changes.close()


def _commit(other: sqlite3.Connection) -> None:
    other.execute("INSERT INTO t VALUES (1)")
    other.commit()


def test_a_wait_ends_once_another_connection_commits(
    watched: tuple[sqlite3.Connection, Changes],
) -> None:
    other, changes = watched
    stop = threading.Event()
    thread = _waiting(changes, stop)
    _commit(other)
    thread.join(timeout=60)  # a hang guard: an hour's wait would outlive it
    alive = thread.is_alive()
    stop.set()
    assert not alive


def test_a_commit_before_the_wait_ends_it_at_once(
    watched: tuple[sqlite3.Connection, Changes],
) -> None:
    """What was committed between ``mark`` (the claim) and the wait counts."""
    other, changes = watched
    _commit(other)
    changes.wait(HOUR, threading.Event())  # returns at its first look


@pytest.mark.parametrize(
    "url", ["postgresql+psycopg://u@127.0.0.1/db", "sqlite://", "sqlite:///:memory:"]
)
def test_without_a_sqlite_file_a_wait_is_the_back_off_or_the_stop(url: str) -> None:
    assert sqlite_file(url) is None
    changes = Changes(url)
    changes.mark()
    stop = threading.Event()
    thread = _waiting(changes, stop)
    stop.set()
    thread.join(timeout=60)
    assert not thread.is_alive()


def test_a_missing_file_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "gone.db"
    changes = Changes(f"sqlite:///{path}")
    changes.mark()
    changes.wait(0.0, threading.Event())
    assert not path.exists()


@contextmanager
def _worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """A worker running in a thread → the back-off of each wait it entered (the real wait)."""
    waits: list[float] = []

    class Watched(Changes):
        def wait(self, timeout: float, stop: threading.Event) -> bool:
            waits.append(timeout)
            return super().wait(timeout, stop)

    monkeypatch.setattr(loop, "Changes", Watched)
    worker = loop.Worker()
    thread = threading.Thread(target=contextvars.copy_context().run, args=(worker.run,))
    thread.start()
    try:
        yield waits
    finally:
        worker.stopping.set()
        thread.join(timeout=60)


def _run_by_the_idle_worker(api: TestClient, name: str, n_trials: int) -> None:
    spec = copy.deepcopy(EXAMPLE) | {"name": name}
    spec["budget"] = {"n_trials": n_trials, "max_parallel": 1}
    created = api.post("/v1/studies", json=spec)
    assert created.status_code == 201, created.text
    study_id = created.json()["id"]
    wait_for(
        lambda: api.get(f"/v1/studies/{study_id}").json()["progress"]["done"] == n_trials,
        timeout=120,  # a hang guard, far inside the worker's hour of back-off
        interval=0.1,
        what="the idle worker to run the study",
    )


def test_a_study_submitted_to_an_idle_worker_starts_before_its_back_off_ends(
    apps: Apps, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's back-off is an hour; the study is created while it waits."""
    api: TestClient = apps(database_url=database_url, poll_min=HOUR, poll_max=HOUR)
    with _worker(monkeypatch) as waits:
        wait_for(lambda: waits, timeout=60, interval=0.05, what="the worker to go idle")
        _run_by_the_idle_worker(api, "woken", 2)


# ------------------------------------------------------------------ PostgreSQL: LISTEN/NOTIFY


def _insert_study(
    connection: Connection, study_id: str, *, n_trials: int, max_parallel: int
) -> None:
    """A queued study row without an Optuna study (as ``studies.create`` first writes it)."""
    now = utcnow()
    connection.execute(
        insert(StudyRow).values(
            id=study_id,
            tenant="t",
            name=study_id,
            optuna_name=study_id,
            spec={},
            status="queued",
            n_trials=n_trials,
            max_parallel=max_parallel,
            max_retries=0,
            created_at=now,
            updated_at=now,
        )
    )


@contextmanager
def _listening(pg_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection of its own that LISTENs on the workers' channel."""
    dsn = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute("LISTEN regtune_work")
        yield listener


@pytest.fixture
def studies_db(pg_url: str) -> Iterator[Engine]:
    """A migrated PostgreSQL database with one queued study row, ``s``."""
    upgrade(pg_url)
    engine = make_engine(pg_url)
    with engine.begin() as connection:
        _insert_study(connection, "s", n_trials=10, max_parallel=2)
    yield engine
    engine.dispose()


def checked_out(engine: Engine) -> int:
    """The connections of ``engine``'s pool in use (on PostgreSQL, a ``QueuePool``)."""
    assert isinstance(engine.pool, QueuePool), engine.pool
    return engine.pool.checkedout()


def _heard(listener: psycopg.Connection[Any], writer: Engine, change: dict[str, Any]) -> bool:
    """Whether updating study ``s`` by ``change`` notified ``regtune_work``: the writer's own
    marker notification follows the change, so what arrives first tells (no timing)."""
    if change:
        with writer.begin() as connection:
            values = {column: text(f"{column} {delta}") for column, delta in change.items()}
            connection.execute(update(StudyRow).where(StudyRow.id == "s").values(**values))
    with writer.begin() as connection:
        connection.execute(text("NOTIFY regtune_work, 'marker'"))
    payloads = []
    for note in listener.notifies(timeout=60):  # a hang guard: the marker always comes
        payloads.append(note.payload)
        if note.payload == "marker":
            break
    assert payloads[-1] == "marker", payloads
    return payloads != ["marker"]


@pytest.mark.parametrize(
    ("change", "heard"),
    [
        ({"status": "|| ''", "n_running": "+ 0"}, False),  # nothing changed
        ({"n_running": "+ 1"}, False),  # a claim takes room
        ({"n_running": "+ 1", "n_done": "+ 0"}, False),
        ({"n_reserved": "+ 3"}, False),  # a path reserves slots
        ({"n_running": "- 1", "n_done": "+ 1"}, False),  # a trial finished: its worker goes on
        ({"n_running": "- 1"}, True),  # a trial handed back or failed for a retry
        ({"n_reserved": "- 1"}, True),  # a path's unused slot released
        ({"n_trials": "+ 5"}, True),  # the budget grew
        ({"max_parallel": "+ 1"}, True),
    ],
)
def test_postgresql_notifies_when_room_grows(
    studies_db: Engine, pg_url: str, change: dict[str, str], heard: bool
) -> None:
    with studies_db.begin() as connection:  # room to give back, for the changes that do
        connection.execute(
            update(StudyRow).where(StudyRow.id == "s").values(n_running=2, n_reserved=3)
        )
    with _listening(pg_url) as listener:
        assert _heard(listener, studies_db, change) is heard


def test_postgresql_notifies_when_a_study_becomes_claimable_or_its_status_changes(
    studies_db: Engine, pg_url: str
) -> None:
    """A new row has no Optuna study yet (workers pass it by): its Optuna id wakes them."""
    with _listening(pg_url) as listener:
        assert _heard(listener, studies_db, {"status": "|| ''"}) is False
        assert _heard(listener, studies_db, {"status": "|| 'x'"}) is True
        with studies_db.begin() as connection:
            _insert_study(connection, "t", n_trials=1, max_parallel=1)
        assert _heard(listener, studies_db, {}) is False  # the insert itself said nothing
        with studies_db.begin() as connection:
            connection.execute(update(StudyRow).where(StudyRow.id == "t").values(optuna_study_id=7))
        assert next(listener.notifies(timeout=60)).payload == ""


def test_a_listening_wait_ends_on_a_notification_and_gives_its_connection_back(
    studies_db: Engine,
) -> None:
    changes = Changes(str(studies_db.url), engine=studies_db)
    stop = threading.Event()
    assert changes.wait(HOUR, stop), "what changed before it listened went unheard: look at once"
    assert checked_out(studies_db) == 1  # listening, on a connection of the pool
    woke: list[bool] = []
    thread = threading.Thread(target=lambda: woke.append(changes.wait(HOUR, stop)))
    thread.start()
    with studies_db.begin() as connection:
        connection.execute(update(StudyRow).values(n_trials=StudyRow.n_trials + 1))
    thread.join(timeout=60)  # a hang guard: an hour's wait would outlive it
    stop.set()
    assert woke == [True]
    changes.busy()
    assert checked_out(studies_db) == 0
    with studies_db.connect() as connection:  # the connection came back listening to nothing
        listening = connection.execute(text("SELECT pg_listening_channels()")).all()
    assert listening == []


def test_a_stop_ends_a_listening_wait(studies_db: Engine) -> None:
    changes = Changes(str(studies_db.url), engine=studies_db)
    stop = threading.Event()
    changes.wait(HOUR, stop)
    thread = threading.Thread(target=changes.wait, args=(HOUR, stop))
    thread.start()
    stop.set()
    thread.join(timeout=60)
    assert not thread.is_alive()
    changes.close()
    assert checked_out(studies_db) == 0


def test_an_idle_worker_listens_again_after_the_database_restarts(
    apps: Apps,
    own_pg: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The connection it listened on dies with the server; with an hour of back-off, only a new
    LISTEN can bring the study submitted after the restart to it. The worker says so in one
    line (it copied the driver's message, which runs over several lines with tabs)."""
    caplog.set_level(logging.WARNING, logger="regtune.service.store.scheduling.wake")
    api: TestClient = apps(
        database_url=own_pg.create_database("relisten"), poll_min=HOUR, poll_max=HOUR
    )
    with _worker(monkeypatch) as waits:
        # the first wait listens and returns at once; the second is listening
        wait_for(lambda: len(waits) >= 2, timeout=60, interval=0.05, what="a listening wait")
        own_pg.restart("fast")
        wait_for(
            lambda: api.get("/readyz").status_code == 200,
            timeout=60,
            interval=0.1,
            what="the API to see the database again",
        )
        _run_by_the_idle_worker(api, "after-restart", 1)
    lost = [r.getMessage() for r in caplog.records if "lost the connection" in r.getMessage()]
    assert lost, caplog.text
    assert all("\n" not in m and "\t" not in m for m in lost), lost
    assert lost[0].startswith("lost the connection it listened on (") and lost[0].endswith(
        "); will listen again"
    )
