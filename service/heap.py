"""A long-lived process's heap, settled so that garbage collection stays short.

CPython's full collection (generation 2) walks every object the collector tracks. What a process
made at start and on its first requests or claims (modules, classes, functions, an app and its
indexes) lives as long as the process, yet every full collection walks it again: a worker that
has imported torch, Optuna, scikit-learn and SQLAlchemy holds about 320,000 such objects, and a
full collection of them took 110-190 ms here. One that came while a worker held SQLite's write
lock (a claim's or a path's transaction) kept the other workers waiting that long; in the API,
it paused every request in flight.

``settle`` collects once and moves the survivors out of the collector's sight (``gc.freeze``): a
full collection then walks only what came after, a millisecond or a few. Only for a process
regtune starts (``regtune worker``, a process of ``regtune api``): one that embeds a worker or
the app (the tests, a notebook) keeps its own collector as it is.
"""

from __future__ import annotations

import gc
import sys


def settle() -> int:
    """Collect, then freeze what is left; return how many objects are frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


class Resettle:
    """``settle`` again whenever the process imported modules since the last time.

    A worker imports at start most of what it runs (torch among it), and on the first claim of
    a kind what start-up did not (the λ path's pieces, torch's optimizer machinery on the first
    MLP): called between claims, this freezes those modules too, each set once, without
    importing at start what the worker may never run. What a claim left alive at that moment is
    frozen with them (a few times in a process's life)."""

    def __init__(self) -> None:
        self.modules = -1

    def __call__(self) -> bool:
        """Settle if modules were imported since; whether it did."""
        if len(sys.modules) == self.modules:
            return False
        settle()
        self.modules = len(sys.modules)
        return True
