"""Child processes die with their parent: no API or worker outlives the command that started it;
and a wait at start-up ends when the process is asked to stop.

On Linux a child asks the kernel for a signal when its parent dies (``PR_SET_PDEATHSIG``), so a
``kill -9`` of ``regtune api --workers N`` or ``regtune serve`` ends every child too. Elsewhere
this is a no-op and the parent's own shutdown stops its children.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

PARENT_ENV = "REGTUNE_PARENT_PID"
"""Set by a parent for the children it starts: the pid they must not outlive."""
_PR_SET_PDEATHSIG = 1


@functools.cache
def _prctl() -> Callable[..., int]:
    """libc's ``prctl``, looked up once: in a ``preexec_fn`` the forked child only calls it."""
    return ctypes.CDLL(None, use_errno=True).prctl


def die_with_parent(sig: int = signal.SIGTERM, *, parent: int | None = None) -> None:
    """Have ``sig`` sent to this process when its parent exits (Linux).

    With ``parent`` (the pid the parent had when it started this process), a parent that died
    before the request was made is caught too: the signal is sent at once.
    """
    if not sys.platform.startswith("linux"):
        return
    _prctl()(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), sig)


def mark_children() -> None:
    """Name this process as the parent its children (started later, by any means) die with."""
    os.environ[PARENT_ENV] = str(os.getpid())


def if_child_die_with_parent() -> None:
    """In a process started by one that called ``mark_children``: die with that parent."""
    parent = os.environ.get(PARENT_ENV)
    if parent and int(parent) != os.getpid():
        die_with_parent(parent=int(parent))


def preexec_die_with(parent: int) -> Callable[[], None]:
    """A ``preexec_fn`` for ``subprocess.Popen``: the child gets SIGTERM when ``parent`` dies.

    ``prctl`` is looked up here, in the parent, so the forked child does no library loading."""
    if sys.platform.startswith("linux"):
        _prctl()
    return functools.partial(die_with_parent, parent=parent)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Stopped(Exception):
    """SIGTERM or SIGINT came before ``awaited`` did; the error met last is the cause."""

    def __init__(self, signum: int, *, awaited: str) -> None:
        self.signum = signum
        self.awaited = awaited
        super().__init__(f"stopped by {signal.Signals(signum).name} before {awaited}")

    @property
    def exit_status(self) -> int:
        """The shell's status for a process a signal ended: 128 + its number."""
        return 128 + self.signum


class StopEvent(threading.Event):
    """Set by the first stop signal, which it remembers."""

    signum: int | None = None

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
        self.set()


@contextmanager
def stop_signals_handled(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """While inside, SIGTERM and SIGINT go to ``handler``; the previous handlers are back
    afterwards (call from the main thread)."""
    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, restored in previous.items():
            signal.signal(sig, restored)


@contextmanager
def stop_on_signals(*, awaited: str) -> Iterator[threading.Event]:
    """While inside, SIGTERM and SIGINT set the event yielded, so a wait that watches it (the
    worker's ``retry_forever(..., stop=...)``) ends at once; the block then ends with
    ``Stopped`` however it went, so the process does not go on to start after all. The previous
    handlers are back afterwards (call from the main thread)."""
    stop = StopEvent()
    with stop_signals_handled(stop.handle):
        try:
            yield stop
        except Exception as exc:
            if stop.signum is None:
                raise
            raise Stopped(stop.signum, awaited=awaited) from exc
    if stop.signum is not None:
        raise Stopped(stop.signum, awaited=awaited)
