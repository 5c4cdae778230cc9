"""Requests that show one study at once share its trial index (``trials.index``) and the read
engine's few connections; none may wait for a connection while it holds the index's lock, or
the requests that hold the connections and wait for that lock wait with it. As a user saw it
(8 concurrent ``POST /v1/studies/{id}/extend``, each answering with the study, 2 connections a
pool): three answers took 30 s, SQLAlchemy's ``pool_timeout``, one of them a 503 "every
connection of this API process is in use" and the other two a 200 once it had given up."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.pool import PoolProxiedConnection

from regtune.service.store import reads
from regtune.service.store.repos import studies, study_summary
from regtune.service.store.trials import views
from tests.inprocess import Apps
from tests.service.test_rest_contract import definition

POOL_TIMEOUT = 5
"""Seconds a read waits for a connection here (30 in the service): a stall fails the test soon."""
DEADLINE = 60


def test_two_reads_of_one_study_with_one_connection_both_answer(
    apps: Apps, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One connection for reads, two summaries of the study at once, the second asking for the
    connection just as the first, which holds it, goes on to take the index's lock again (its
    count of trials stopped early): both answer. Was: the second took the lock on its first
    statement, before its connection, so each waited for what the other held until the pool
    gave up (``TimeoutError``: the API's 503)."""
    small = reads.engine_kwargs

    def one_connection(url: str) -> dict[str, Any]:
        return small(url) | {"pool_size": 1, "max_overflow": 0, "pool_timeout": POOL_TIMEOUT}

    monkeypatch.setattr(reads, "engine_kwargs", one_connection)
    api = apps(database_url=database_url, sweep_interval=3600)  # no sweep reads meanwhile
    created = api.post("/v1/studies", json=definition("shown-twice", 3))
    assert created.status_code == 201, created.text
    row = studies.get_row(created.json()["id"])

    parked, asked = threading.Event(), threading.Event()
    first = threading.Lock()
    counted = views.stopped_early

    def stopped_early(session: Any, optuna_study_id: int, *, key: str) -> int:
        if first.acquire(blocking=False):  # the first summary, its connection in hand
            parked.set()
            assert asked.wait(DEADLINE), "the second summary never asked for a connection"
        return counted(session, optuna_study_id, key=key)

    connect = Engine.raw_connection

    def raw_connection(engine: Engine) -> PoolProxiedConnection:
        if parked.is_set() and engine is reads.read_engine():
            asked.set()  # the second summary: it waits for the first one's connection now
        return connect(engine)

    monkeypatch.setattr(views, "stopped_early", stopped_early)
    monkeypatch.setattr(Engine, "raw_connection", raw_connection)
    answers: dict[str, Any] = {}

    def summarize(name: str) -> None:
        try:
            answers[name] = study_summary.summarize(row).counts
        except Exception as exc:
            answers[name] = exc

    one = threading.Thread(target=summarize, args=("first",))
    one.start()
    assert parked.wait(DEADLINE), answers
    other = threading.Thread(target=summarize, args=("second",))
    other.start()
    for thread in (one, other):
        thread.join(DEADLINE)
    assert not one.is_alive() and not other.is_alive(), "the summaries never ended"
    assert {name: type(answer) for name, answer in answers.items()} == {
        "first": dict,
        "second": dict,
    }, answers
    assert answers["first"] == answers["second"], answers
