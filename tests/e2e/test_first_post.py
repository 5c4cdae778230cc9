"""The first POST of a fresh API does its blocking work off the event loop."""

from __future__ import annotations

import asyncio
import itertools
import time

import httpx

from tests.support import Stack

STUDY = {
    "name": "first-post",
    "dataset": {"builtin": "diabetes"},
    "model": {"kind": "linear"},
    "search_space": {"lambda": {"low": 1e-4, "high": 1.0, "log": True}},
    "budget": {"n_trials": 1},
}


async def _first_post_and_health(url: str) -> tuple[int, list[int], float, float]:
    """Send the POST, and /healthz one after another until it answers.

    Returns the POST's status, every /healthz status, how long the POST took, and the longest
    wait between two /healthz answers (or the POST's start and the first one) meanwhile.
    """
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        answered: list[int] = []
        started = time.perf_counter()
        times = [started]

        async def post() -> tuple[int, float]:
            response = await client.post("/v1/studies", json=STUDY)
            return response.status_code, time.perf_counter()

        posting = asyncio.create_task(post())
        while not posting.done():
            health = await client.get("/healthz")
            answered.append(health.status_code)
            times.append(time.perf_counter())
        status, finished = await posting
        during = [t for t in times if t <= finished] + [finished]
        longest = max(b - a for a, b in itertools.pairwise(during))
        return status, answered, finished - started, longest


def test_the_first_post_leaves_the_api_serving(stack_factory: type[Stack], sqlite_url: str) -> None:
    stack = stack_factory(sqlite_url).start_api()
    status, answered, took, longest_wait = asyncio.run(_first_post_and_health(stack.url))
    assert status == 201
    assert set(answered) == {200}
    # A POST that blocked the event loop would hold every /healthz for nearly all of its time.
    assert longest_wait < took / 2, f"/healthz waited {longest_wait:.3f}s of a {took:.3f}s POST"
