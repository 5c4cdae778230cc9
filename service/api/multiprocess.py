"""The processes of ``regtune api --workers N``: metrics summed over them, and a common start.

Each API process counts its own requests. In prometheus-client's multiprocess mode every process
writes its samples to files in one directory (``PROMETHEUS_MULTIPROC_DIR``), and ``/metrics`` in
any process sums them (``MultiProcessCollector``), so a scrape reads the same counts whichever
process answers. The directory is made fresh for each start of the API (counts of an earlier run
never mix in) and removed at exit; a child that exits is marked dead (``mark_process_dead``), so
its live gauges stop counting while its requests stay counted.

This module imports prometheus-client only after the variable is set: the value class it uses
is chosen at import time.

A single process (``--workers 1``) is served in ``regtune api``'s own process, and ends as the
supervisor of several does: a SIGTERM or Ctrl-C stops it with status 0, after the directory is
removed (uvicorn raises the signal that stopped it again once it has shut down, which would end
the process at once, before any cleanup, with status 143).

The API says its stop in its log, once however many processes it has (``_Stop``): which
signal told it to stop, then that it stopped and how long after; a single process says too how
many requests it was answering (one may hold its answer up to a minute: ``?wait=``) and how
many a further Ctrl-C cut off. uvicorn's own lines of a stop are left out with its start-up
chatter (``regtune.service.logs``: INFO of ``uvicorn.error``), and it says them per process.

The processes also start serving together. Each one listens on the shared socket as soon as its
start-up ends, so the first one warm would take every connection a client opens meanwhile (and
keep it: clients reuse connections) while its siblings still read ahead. Each process marks
itself warm in the same directory and waits, up to ``TOGETHER_SECONDS``, for the others.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from regtune.service.lifetime import stop_signals_handled
from regtune.service.spec.words import counted

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger(__name__)
ENV = "PROMETHEUS_MULTIPROC_DIR"
PROCESSES_ENV = "REGTUNE_API_PROCESSES"
WATCH_SECONDS = 0.5
TOGETHER_SECONDS = 60.0
"""A process that is not warm by then (a database far slower for one of them) is not waited
for: the others serve."""
HEALTHCHECK_SECONDS = 30
"""How long uvicorn's supervisor waits for an API process to answer its ping before it kills
and replaces the process (uvicorn's default: 5 s). A spawned process answers only once its
interpreter has started; on a busy machine (load 12–17) that took more than 5 s, so every API
process was killed at its first check, with a WARNING of a crash, and the port answered ~20 s
late. A process hung for real is replaced 25 s later than with the default."""


def enabled() -> bool:
    """True in a process of ``regtune api`` (its metrics are the directory's, summed)."""
    return bool(os.environ.get(ENV))


@contextmanager
def api_processes(count: int) -> Iterator[Path]:
    """A fresh directory for the ``count`` API processes started inside; removed at exit.

    A directory the operator set in ``PROMETHEUS_MULTIPROC_DIR`` is the parent of the fresh one.
    """
    given = os.environ.get(ENV)
    path = Path(tempfile.mkdtemp(prefix="regtune-metrics-", dir=given or None))
    os.environ[ENV] = str(path)
    os.environ[PROCESSES_ENV] = str(count)
    stop = threading.Event()
    watcher = threading.Thread(
        target=_mark_dead_children, args=(stop,), name="regtune-metrics-children", daemon=True
    )
    watcher.start()
    try:
        yield path
    finally:
        stop.set()
        watcher.join()
        if given:
            os.environ[ENV] = given
        else:
            os.environ.pop(ENV, None)
        os.environ.pop(PROCESSES_ENV, None)
        shutil.rmtree(path, ignore_errors=True)


def serve(app: str, *, host: str, port: int, processes: int) -> int:
    """Serve the app factory ``app`` (``module:function``) in ``processes`` uvicorn processes
    until stopped; the exit status, non-zero when a process could not start."""
    import uvicorn

    config = uvicorn.Config(
        app,
        factory=True,
        host=host,
        port=port,
        log_level="info",
        log_config=None,  # our JSON handler (regtune.service.logs) formats uvicorn's lines too
        access_log=False,  # one line per request comes from regtune.service.api.observability
        workers=processes,
        timeout_worker_healthcheck=HEALTHCHECK_SECONDS,
    )
    return _serve_here(config) if processes <= 1 else _serve_several(config)


class _Stop:
    """The API's stop as its log says it: the signal that told it to stop, once (a Ctrl-C under
    ``regtune serve`` brings serve's SIGTERM too), then that it stopped and how long after."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.at = 0.0

    def told(self, signum: int, then: str) -> None:
        if self.signum is None:
            self.signum, self.at = signum, time.monotonic()
            log.info("API told to stop by %s: %s", signal.Signals(signum).name, then)

    def stopped(self, how: str) -> None:
        if self.signum is not None:
            name, took = signal.Signals(self.signum).name, time.monotonic() - self.at
            log.info("API stopped %.1f s after %s: %s", took, name, how)


def _serve_several(config: uvicorn.Config) -> int:
    """Serve in ``config.workers`` processes under uvicorn's supervisor until stopped.

    The supervisor stops the others when one fails to start, then returns as after a Ctrl-C:
    its status is read here from its processes' exit codes, so that whatever restarts
    ``regtune api`` on failure sees one. The only use of the supervisor's attributes, and of
    its ``handle_int``/``handle_term``, which its loop calls for a signal it queued."""
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    stop = _Stop()

    class Supervisor(Multiprocess):
        def handle_int(self) -> None:
            self.told(signal.SIGINT)
            super().handle_int()

        def handle_term(self) -> None:
            self.told(signal.SIGTERM)
            super().handle_term()

        def told(self, signum: int) -> None:
            many = _processes(len(self.processes))
            stop.told(signum, f"its {many} answer the requests they hold, then end")

    supervisor = Supervisor(config, sockets=[config.bind_socket()])
    supervisor.run()
    failed = [p.pid for p in supervisor.processes if p.exitcode == STARTUP_FAILURE]
    if failed:
        log.error("API process(es) %s could not start (see above); stopped", failed)
        return STARTUP_FAILURE
    stop.stopped(f"its {_processes(len(supervisor.processes))} ended")
    return 0


def _processes(n: int) -> str:
    return "1 process" if n == 1 else f"{n} processes"


class _StopSignal(Exception):
    """SIGTERM or SIGINT, raised in this process once uvicorn has let go of them."""


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise _StopSignal(signum)


def _serve_here(config: uvicorn.Config) -> int:
    """Serve in this process until stopped; 0 when a signal stopped it, as for several.

    uvicorn puts its own handlers in place while it serves, then restores the ones it found and
    raises the signal that stopped it again: the ones here turn that into ``_StopSignal``, so
    the process goes on to its cleanup and its status 0. A signal before uvicorn's handlers are
    in place stops the start the same way.

    Its stop is said by the server's ``handle_exit`` (uvicorn's signal handler) and at the end
    of its ``shutdown``, with the requests it was answering (``server_state.tasks``): those
    left when the shutdown ends were cut off by a further Ctrl-C (``force_exit``)."""
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE

    stop = _Stop()

    class Server(uvicorn.Server):
        held = 0
        """The requests it was answering when told to stop."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            if stop.signum is None:
                self.held = len(self.server_state.tasks)
                then = f"it answers {_held(self.held)}, then ends" if self.held else "it ends"
                stop.told(sig, then)

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            await super().shutdown(sockets)
            if cut := len(self.server_state.tasks):
                stop.stopped(f"{counted(cut, 'request')} cut off by a further SIGINT")
            elif self.held:
                stop.stopped(f"{counted(self.held, 'request')} answered first")
            else:
                stop.stopped("no request was open")

    server = Server(config)
    with stop_signals_handled(_raise_stop):
        try:
            server.run()
        except _StopSignal as exc:
            if stop.signum is None:  # before uvicorn's handlers were in place: nothing served
                stop.told(exc.args[0], "it had not started serving")
                stop.stopped("nothing served")
            return 0
    return 0 if server.started else STARTUP_FAILURE


def _held(n: int) -> str:
    return "the request it holds" if n == 1 else f"the {n} requests it holds"


def start_together(timeout: float = TOGETHER_SECONDS) -> None:
    """Mark this API process warm, then wait until its siblings are, or ``timeout`` passed.
    A process restarted later (its predecessor died) finds them marked and goes on at once."""
    directory, count = os.environ.get(ENV), int(os.environ.get(PROCESSES_ENV) or 1)
    if not directory or count <= 1:
        return
    warm = Path(directory, "warm")
    warm.mkdir(exist_ok=True)
    (warm / str(os.getpid())).touch()
    deadline = time.monotonic() + timeout
    while sum(1 for _ in warm.iterdir()) < count and time.monotonic() < deadline:
        time.sleep(0.02)


def _mark_dead_children(stop: threading.Event) -> None:
    """Mark each child process dead once it exited (uvicorn restarts a dead one under a new pid)."""
    from prometheus_client import multiprocess

    alive: set[int] = set()
    while True:
        stopping = stop.wait(WATCH_SECONDS)
        now = {p.pid for p in multiprocessing.active_children() if p.pid is not None}
        for pid in alive - now if not stopping else alive:
            multiprocess.mark_process_dead(pid)
        if stopping:
            return
        alive = now
