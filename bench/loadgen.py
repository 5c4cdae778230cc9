"""An open-loop HTTP load generator light enough to share two cores with what it measures.

One process, asyncio, HTTP/1.1 keep-alive connections spoken with h11 (a sans-IO parser) rather
than a full client: it spends about a tenth of the CPU per request that httpx does. Request i is
due at ``i / rate`` whatever the earlier ones are doing; its latency counts from then, so a
server that falls behind cannot hide its queue (no coordinated omission). At most
``connections`` requests are outstanding; a request waiting for a connection keeps its clock
running. The generator's own CPU time is measured, so a report can say what it cost.

The generator keeps every request's task and result until the step ends: tens of thousands of
objects, which Python's cyclic collector walked in pauses of 100 ms and more mid-step, sending
every request due meanwhile late (and counting it late: the server was blamed for the
generator's pause). The collector is off while a step runs; memory is freed by reference
counting as usual, and the step's leftovers are collected after it.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import h11

TIMEOUT_S = 10.0


@dataclass
class Result:
    kind: str
    seconds: float
    status: int | str


@dataclass
class Run:
    rate: float
    seconds: float
    results: list[Result] = field(default_factory=list)
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0

    @property
    def errors(self) -> int:
        return sum(not (isinstance(r.status, int) and r.status < 400) for r in self.results)

    def percentile_ms(self, q: float, kind: str | None = None) -> float:
        ordered = sorted(r.seconds for r in self.results if kind in (None, r.kind))
        if not ordered:
            return float("nan")
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def cpu_share(self) -> float:
        """The generator's CPU time over the wall time of the run (1.0 = one full core)."""
        return self.cpu_seconds / self.wall_seconds if self.wall_seconds else 0.0


class Connection:
    """One keep-alive connection; reconnects when the server closes it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.conn = h11.Connection(our_role=h11.CLIENT)

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.conn = h11.Connection(our_role=h11.CLIENT)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def get(self, path: str) -> int:
        if self.writer is None or self.conn.our_state is not h11.IDLE:
            self.close()
            await self._open()
        assert self.reader is not None and self.writer is not None
        request = h11.Request(method="GET", target=path, headers=[("Host", self.host)])
        self.writer.write(self.conn.send(request) + self.conn.send(h11.EndOfMessage()))
        status = 0
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(await self.reader.read(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("the server closed the connection mid-response")
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        else:  # the server said Connection: close (HTTP/1.0 servers such as wsgiref)
            self.close()
        return status


async def open_loop(
    base_url: str,
    next_request: Callable[[], tuple[str, str]],
    *,
    rate: float,
    seconds: float,
    connections: int = 64,
) -> Run:
    """Send ``rate`` requests a second for ``seconds``; ``next_request()`` gives (kind, path)."""
    url = urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(Connection(host, port))
    run = Run(rate=rate, seconds=seconds)

    async def one(kind: str, path: str, due: float) -> None:
        status: int | str = "not answered"
        connection = await pool.get()
        try:
            status = await asyncio.wait_for(connection.get(path), TIMEOUT_S)
        except (OSError, h11.ProtocolError, TimeoutError) as exc:
            status = type(exc).__name__
            connection.close()
        finally:
            pool.put_nowait(connection)
            run.results.append(Result(kind, time.perf_counter() - due, status))

    collecting = gc.isenabled()
    gc.disable()
    cpu, start = time.process_time(), time.perf_counter()
    tasks = []
    try:
        for i in range(int(rate * seconds)):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            kind, path = next_request()
            tasks.append(asyncio.create_task(one(kind, path, due)))
        _, late = await asyncio.wait(tasks, timeout=seconds + 2 * TIMEOUT_S)
        for task in late:  # hopelessly behind: what is left counts as errors
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)  # each still records its result
        run.wall_seconds = time.perf_counter() - start
        run.cpu_seconds = time.process_time() - cpu
    finally:
        while not pool.empty():
            pool.get_nowait().close()
        if collecting:
            gc.enable()
    return run


def one_at_a_time(
    base_url: str,
    paths: Callable[[], str],
    *,
    count: int,
    warmup: int = 10,
    timeout: float = 60.0,
) -> list[float]:
    """Latencies (ms) of ``count`` requests sent one after another on one connection; a request
    not answered within ``timeout`` seconds raises ``TimeoutError``."""

    async def go() -> list[float]:
        url = urlsplit(base_url)
        connection = Connection(url.hostname or "127.0.0.1", url.port or 80)
        out = []
        try:
            for i in range(warmup + count):
                started = time.perf_counter()
                status = await asyncio.wait_for(connection.get(paths()), timeout)
                if status >= 400:
                    raise RuntimeError(f"{paths()} answered {status}")
                if i >= warmup:
                    out.append(1000 * (time.perf_counter() - started))
        finally:
            connection.close()
        return out

    return asyncio.run(go())
