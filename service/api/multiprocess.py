"""Prometheus metrics of ``regtune api --workers N``, summed over its processes.

Each API process counts its own requests. In prometheus-client's multiprocess mode every process
writes its samples to files in one directory (``PROMETHEUS_MULTIPROC_DIR``), and ``/metrics`` in
any process sums them (``MultiProcessCollector``), so a scrape reads the same counts whichever
process answers. The directory is made fresh for each start of the API (counts of an earlier run
never mix in) and removed at exit; a child that exits is marked dead (``mark_process_dead``), so
its live gauges stop counting while its requests stay counted.

This module imports prometheus-client only after the variable is set: the value class it uses
is chosen at import time.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
WATCH_SECONDS = 0.5


def enabled() -> bool:
    """True in a process of ``regtune api`` (its metrics are the directory's, summed)."""
    return bool(os.environ.get(ENV))


@contextmanager
def shared_metrics() -> Iterator[Path]:
    """A fresh metrics directory for the API processes started inside; removed at exit.

    A directory the operator set in ``PROMETHEUS_MULTIPROC_DIR`` is the parent of the fresh one.
    """
    given = os.environ.get(ENV)
    path = Path(tempfile.mkdtemp(prefix="regtune-metrics-", dir=given or None))
    os.environ[ENV] = str(path)
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
        shutil.rmtree(path, ignore_errors=True)


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
