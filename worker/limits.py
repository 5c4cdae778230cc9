"""A memory limit the worker sets on itself, so that one trial too large for it fails alone.

Without a limit, a trial that needs more memory than the machine has gets the whole worker
OOM-killed (and every worker that claims the retry after it). With ``RLIMIT_DATA`` set, the
allocation that would pass the limit fails instead: numpy raises ``MemoryError`` and torch a
``RuntimeError`` ("can't allocate memory"), both ordinary exceptions that fail the trial and
are counted against the study's ``max_retries``, while the worker lives on.

``RLIMIT_DATA`` (Linux ≥ 4.7: heap and private writable mappings) is used rather than
``RLIMIT_AS``: torch and glibc reserve address space they never touch (about 1 GB at import),
which ``RLIMIT_AS`` would count; ``RLIMIT_DATA`` counts memory that can really be used.
"""

from __future__ import annotations

import logging
import resource

log = logging.getLogger(__name__)
MIB = 1024 * 1024


def limit_memory(max_bytes: int) -> int | None:
    """Lower this process's data limit to ``max_bytes`` (never raise it); return the limit set.

    ``max_bytes`` ≤ 0 leaves the limit alone and returns None. A hard limit already lower than
    ``max_bytes`` wins. The limit is inherited by child processes.
    """
    if max_bytes <= 0:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    target = max_bytes if hard == resource.RLIM_INFINITY else min(max_bytes, hard)
    if soft != resource.RLIM_INFINITY and soft <= target:
        log.info("memory limit already %d MiB (asked %d MiB)", soft // MIB, max_bytes // MIB)
        return int(soft)
    resource.setrlimit(resource.RLIMIT_DATA, (target, hard))
    log.info("memory limit set to %d MiB (RLIMIT_DATA)", target // MIB)
    return target


def limit_from_settings() -> int | None:
    """Apply ``REGTUNE_WORKER_MEMORY_MB`` (0: no limit)."""
    from regtune.service.settings import get_settings

    return limit_memory(get_settings().worker_memory_mb * MIB)
