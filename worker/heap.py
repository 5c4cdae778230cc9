"""A worker process's heap, settled once at start so that garbage collection stays short.

CPython's full collection (generation 2) walks every object the collector tracks. A worker that
has imported torch, Optuna, scikit-learn and SQLAlchemy holds about 320,000 of them; a full
collection then took 110-190 ms here, and one that came while the worker held SQLite's write
lock (inside a claim's or a path's transaction) kept the other workers waiting that long.

What exists once the worker has imported what its claims use (modules, classes, functions) lives
as long as the process. ``settle`` imports it up front, collects once, and moves the survivors out
of the collector's sight (``gc.freeze``): a full collection then walks only what claims created
since, a few milliseconds. Run by the ``regtune worker`` command only: a process that embeds a
worker (the tests, a notebook) keeps its own collector as it is.
"""

from __future__ import annotations

import gc
import importlib

PRELOADED = (
    "torch",
    "regtune.worker.objective",
    "regtune.worker.paths",
    "regtune.worker.best_model",
    "regtune.worker.fused",
    "regtune.worker.policies",
    "regtune.worker.trainers.path",
    "optuna.samplers",
)
"""What a worker's first claims import: loaded before the freeze, so it is frozen too."""


def settle() -> int:
    """Import ``PRELOADED``, collect, freeze what is left; return how many objects were frozen."""
    for name in PRELOADED:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
