"""The smoke tests' runners of a benchmark in the test's own process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.bench.quick import Bench, in_process


@pytest.fixture
def bench(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Bench:
    """``bench(name, *argv)``: ``bench.<name> --quick *argv`` in this process → (what it
    printed, its JSON); marks the test ``bench``."""

    def run(name: str, *argv: str) -> tuple[str, dict[str, Any]]:
        return in_process(name, tmp_path, capsys, *argv)

    return run


@pytest.fixture
def bench_with_servers(bench: Bench) -> Bench:
    """:func:`bench` for a benchmark that starts servers or workers of its own (it stops them
    before it returns); marks the test ``process`` too."""
    return bench
