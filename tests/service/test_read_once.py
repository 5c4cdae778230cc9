"""What a process remembers for a moment (keys for ``KEY_CACHE_SECONDS``; study rows, lists
and an ended study's missing model for ``RECENT_SECONDS``) expires for every request at once;
then one request reads it again and the others that arrive meanwhile wait for that read instead
of each reading it (under load they queued for the pool's connections and stalled the process)."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

from regtune.service.api import render
from regtune.service.api.app import Sweeper
from regtune.service.settings import get_settings
from regtune.service.spec.definition import EXAMPLE
from regtune.service.store.repos import keys, studies
from tests.inprocess import Apps

ADMIN = "key-reads-admin-0123456789abcdef"
CALLERS = 16


@contextmanager
def slow_reads(table: str = "regtune_api_keys") -> Iterator[list[str]]:
    """Each read of ``table`` takes 0.2 s more (so that every caller misses at once); the
    statements are recorded (the background sweep's aside)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if isinstance(threading.current_thread(), Sweeper):
            return
        if statement.lstrip().upper().startswith("SELECT") and table in statement:
            seen.append(statement)
            time.sleep(0.2)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def at_once(call: Any) -> list[Any]:
    """``call()`` in ``CALLERS`` threads released together; their results."""
    start = threading.Barrier(CALLERS)
    results: list[Any] = []

    def one() -> None:
        start.wait()
        results.append(call())

    threads = [threading.Thread(target=one) for _ in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_callers_missing_together_share_one_read_whether_any_key_exists(apps: Apps) -> None:
    apps()
    settings = get_settings()
    keys._ANY_KEY.clear()
    with slow_reads() as seen:
        callers = at_once(lambda: keys.authenticate(None, settings))
    assert callers == [keys.OPEN] * CALLERS
    assert len(seen) == 1, seen


def test_callers_of_one_key_missing_together_share_one_read(apps: Apps) -> None:
    apps(admin_key=ADMIN)
    settings = get_settings()
    _, secret = keys.create_key("alpha")
    keys._KEYS.clear()
    with slow_reads() as seen:
        callers = at_once(lambda: keys.authenticate(f"Bearer {secret}", settings))
    assert {caller.tenant for caller in callers} == {"alpha"} and len(callers) == CALLERS
    assert len(seen) == 1, seen


def test_callers_of_an_expired_study_row_share_one_read(apps: Apps) -> None:
    api = apps()
    study_id = api.post("/v1/studies", json={**copy.deepcopy(EXAMPLE), "name": "row"}).json()["id"]
    studies._ROWS.clear()
    with slow_reads("regtune_studies") as seen:
        rows = at_once(lambda: studies.recent_or_read_row(study_id))
    assert {row.id for row in rows} == {study_id} and len(rows) == CALLERS
    assert len(seen) == 1, seen


def test_callers_of_an_expired_study_list_share_one_rendering(apps: Apps) -> None:
    api = apps()
    for name in ("one", "two"):
        api.post("/v1/studies", json={**copy.deepcopy(EXAMPLE), "name": name})
    render._LISTS.clear()
    with slow_reads("regtune_studies") as seen:
        bodies = at_once(lambda: render.study_list_body("default", None, None, 0, 50))
    assert len(set(bodies)) == 1 and b'"total":2' in bodies[0]
    assert len(seen) == 2, seen  # the page and its count, once
