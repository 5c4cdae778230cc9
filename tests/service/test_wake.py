"""An idle worker is woken by a commit to its SQLite database instead of sleeping out its
back-off: a study submitted to idle workers starts at once (``scheduling.wake``)."""

from __future__ import annotations

import contextvars
import copy
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from regtune.service.spec.definition import EXAMPLE
from regtune.service.store.scheduling.wake import Changes, sqlite_file
from regtune.worker import loop
from tests.inprocess import Apps
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


def test_a_study_submitted_to_an_idle_worker_starts_before_its_back_off_ends(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's back-off is an hour; the study is created while it waits."""
    api: TestClient = apps(poll_min=HOUR, poll_max=HOUR)
    idle = threading.Event()

    class Watched(Changes):  # the real wait, telling the test when the worker is in it
        def wait(self, timeout: float, stop: threading.Event) -> None:
            idle.set()
            super().wait(timeout, stop)

    monkeypatch.setattr(loop, "Changes", Watched)
    worker = loop.Worker()
    thread = threading.Thread(target=contextvars.copy_context().run, args=(worker.run,))
    thread.start()
    try:
        assert idle.wait(timeout=60), "the worker never went idle"
        spec = copy.deepcopy(EXAMPLE) | {"name": "woken"}
        spec["budget"] = {"n_trials": 2, "max_parallel": 1}
        created = api.post("/v1/studies", json=spec)
        assert created.status_code == 201, created.text
        study_id = created.json()["id"]
        wait_for(
            lambda: api.get(f"/v1/studies/{study_id}").json()["progress"]["done"] == 2,
            timeout=120,  # a hang guard, far inside the worker's hour of back-off
            interval=0.1,
            what="the idle worker to run the study",
        )
    finally:
        worker.stopping.set()
        thread.join(timeout=60)
