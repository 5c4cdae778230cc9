"""``REGTUNE_WORKER_MEMORY_MB`` below what a worker needs to start was taken, and the worker
died at start: a MemoryError traceback at 100 or 256 MiB, a C++ ``bad_alloc`` abort at 200."""

from __future__ import annotations

import pytest

from regtune.service.errors import InvalidSettings
from regtune.service.settings import MIN_WORKER_MEMORY_MB, get_settings


@pytest.fixture(autouse=True)
def fresh_settings() -> None:
    get_settings.cache_clear()


@pytest.mark.parametrize("given", ["100", "256", str(MIN_WORKER_MEMORY_MB - 1)])
def test_a_limit_too_small_to_start_a_worker_is_refused(
    monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    monkeypatch.setenv("REGTUNE_WORKER_MEMORY_MB", given)
    with pytest.raises(InvalidSettings) as refused:
        get_settings()
    get_settings.cache_clear()
    (problem,) = refused.value.fields
    assert problem.path == "REGTUNE_WORKER_MEMORY_MB"
    assert problem.rule.startswith(f"must be 0 (no limit) or at least {MIN_WORKER_MEMORY_MB} MiB")
    assert problem.rule.endswith(f"got {given!r}") or problem.rule.endswith(f"got {int(given)}")


@pytest.mark.parametrize("given", [0, MIN_WORKER_MEMORY_MB, 4096])
def test_no_limit_or_one_a_worker_starts_under_is_taken(
    monkeypatch: pytest.MonkeyPatch, given: int
) -> None:
    monkeypatch.setenv("REGTUNE_WORKER_MEMORY_MB", str(given))
    assert get_settings().worker_memory_mb == given
    get_settings.cache_clear()
