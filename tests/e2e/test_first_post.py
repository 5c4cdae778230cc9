"""A POST's database work runs off the event loop: while it waits on the database, the API serves.

The test holds a lock on the studies table, so the POST's database work is certain to be waiting
(PostgreSQL says so in ``pg_stat_activity``) while ``/healthz`` is asked. A POST that did that work
on the event loop would hold ``/healthz`` until the lock went, and the lock goes only after
``/healthz`` answers: the test would then fail on its timeout, never on a slow machine's timing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable

import httpx
import psycopg

from service.store.db import APPLICATION_NAME
from tests.support import StackFactory

STUDY = {
    "name": "first-post",
    "dataset": {"builtin": "diabetes"},
    "model": {"kind": "linear"},
    "search_space": {"lambda": {"low": 1e-4, "high": 1.0, "log": True}},
    "budget": {"n_trials": 1},
}
HEALTH_ASKS = 5
WAIT_FOR_LOCK_S = 60.0
HEALTH_TIMEOUT_S = 20.0

_WAITING_ON_A_LOCK = (
    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'"
)


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


async def _wait_until_blocked(database: str, posting: asyncio.Task[int]) -> None:
    deadline = time.monotonic() + WAIT_FOR_LOCK_S
    with psycopg.connect(database, autocommit=True) as watcher:
        while True:
            row = watcher.execute(_WAITING_ON_A_LOCK, (APPLICATION_NAME,)).fetchone()
            if row is not None and row[0] > 0:
                return
            assert not posting.done(), "the POST answered while the studies table was locked"
            assert time.monotonic() < deadline, "the POST never waited on the studies table"
            await asyncio.sleep(0.05)


async def _post_while_locked(api: str, database: str) -> tuple[list[int | None], bool, int]:
    """POST a study while the studies table is locked; ask /healthz while the POST waits.

    Returns the /healthz statuses (None: no answer, and no more asks), whether the POST was
    still waiting after the last, and the POST's status once the lock went.
    """
    async with httpx.AsyncClient(base_url=api, timeout=WAIT_FOR_LOCK_S) as client:
        with psycopg.connect(database) as holder:
            holder.execute("LOCK TABLE regtune_studies IN ACCESS EXCLUSIVE MODE")
            posting = asyncio.create_task(_status(client.post("/v1/studies", json=STUDY)))
            await _wait_until_blocked(database, posting)
            answered: list[int | None] = []
            while len(answered) < HEALTH_ASKS and None not in answered:
                answered.append(await _health(client))
            still_waiting = not posting.done()
            holder.rollback()  # the lock goes; the POST goes on
        return answered, still_waiting, await posting


async def _health(client: httpx.AsyncClient) -> int | None:
    """/healthz's status, or None when it does not answer in HEALTH_TIMEOUT_S."""
    try:
        return (await client.get("/healthz", timeout=HEALTH_TIMEOUT_S)).status_code
    except httpx.TimeoutException:
        return None


async def _status(request: Awaitable[httpx.Response]) -> int:
    return (await request).status_code


def test_the_api_serves_while_a_post_waits_on_the_database(
    stack_factory: StackFactory, pg_url: str
) -> None:
    stack = stack_factory(pg_url).start_api()
    answered, still_waiting, posted = asyncio.run(_post_while_locked(stack.url, _libpq(pg_url)))
    assert answered == [200] * HEALTH_ASKS
    assert still_waiting
    assert posted == 201
