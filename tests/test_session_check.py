"""The session-end check: a process a test started and left running fails the run; what ends
with the test process itself does not."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

from tests.support import OWNER, RESOURCE_TRACKER, leftovers, parent_of, wait_for


def test_this_process_own_resource_tracker_is_not_left_behind(
    spawn: multiprocessing.context.SpawnContext,
) -> None:
    """A ``spawn`` context's lock starts multiprocessing's resource tracker, a child of the test
    process that ends only with it (was: counted as left behind, so a module of such tests run
    without xdist failed with every test passed). The tracker is looked for until its exec has
    given it its command: multiprocessing returns once it forked it, not once it runs (was: a
    rare failure under load)."""
    spawn.Lock()

    def trackers() -> list[int]:
        return [
            int(entry.name)
            for entry in Path("/proc").iterdir()
            if entry.name.isdigit()
            and RESOURCE_TRACKER in _command(entry)
            and parent_of(int(entry.name)) == os.getpid()
        ]

    found = wait_for(trackers, timeout=60, interval=0.05, what="the lock's resource tracker")
    assert not {pid for pid, _ in leftovers(os.environ[OWNER])} & set(found)


def test_a_child_left_running_is_left_behind(spawn: multiprocessing.context.SpawnContext) -> None:
    """The child is looked for once it runs: ``start`` can return while the child's exec is under
    way, when ``/proc/<pid>/environ`` still reads empty (was: a rare failure, one CI run)."""
    started, stop = spawn.Event(), spawn.Event()
    child = spawn.Process(target=_wait, args=(started, stop))
    child.start()
    try:
        assert started.wait(60), "the child never started"
        assert child.pid in {pid for pid, _ in leftovers(os.environ[OWNER])}
    finally:
        child.kill()
        child.join(timeout=10)


def _wait(
    started: multiprocessing.synchronize.Event, stop: multiprocessing.synchronize.Event
) -> None:
    started.set()
    stop.wait(60)


def _command(entry: Path) -> str:
    try:
        return (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
