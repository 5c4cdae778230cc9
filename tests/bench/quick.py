"""Running a benchmark's ``--quick`` mode for the smoke tests.

In the test's process (:func:`in_process`): torch, scikit-learn and Optuna are imported once for
all of them instead of once per benchmark; the servers and workers a benchmark starts are still
real processes (``harness.Service``), which it stops before it returns.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import pytest


class Bench(Protocol):
    def __call__(self, name: str, *argv: str) -> tuple[str, dict[str, Any]]:
        """What ``bench.<name> --quick *argv`` printed, and the JSON it wrote."""
        ...


def in_process(
    name: str, out: Path, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[str, dict[str, Any]]:
    """Run ``bench.<name>``'s ``main(["--quick", *argv])`` in this process; what it changes in
    the process (environment, settings, cached engines, torch's threads, Optuna's verbosity, the
    SIGTERM handler) is put back afterwards."""
    capsys.readouterr()
    with _restored():
        importlib.import_module(f"bench.{name}").main(["--quick", "--out", str(out), *argv])
    stdout = capsys.readouterr().out
    return stdout, _written(name, out, stdout)


def _written(name: str, out: Path, stdout: str) -> dict[str, Any]:
    """The JSON the run wrote under ``out``: ``<name>.json``, or the variant's name it printed
    (``bench.uploads --relax 0``: ``uploads-relax-0.json``)."""
    (path,) = re.findall(rf"\(written to ({re.escape(str(out))}/{name}[^)]*\.json)\)", stdout)
    result: dict[str, Any] = json.loads(Path(path).read_text())
    assert result["quick"] is True and result["machine"]["cores"] >= 1
    assert result["table"] in stdout
    return result


@contextmanager
def _restored() -> Iterator[None]:
    import optuna
    import torch

    from regtune.service.settings import use_settings
    from tests.inprocess import reset_process_state

    environ = dict(os.environ)
    sigterm = signal.getsignal(signal.SIGTERM)
    threads = torch.get_num_threads()
    verbosity = optuna.logging.get_verbosity()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(environ)
        signal.signal(signal.SIGTERM, sigterm)
        torch.set_num_threads(threads)
        optuna.logging.set_verbosity(verbosity)
        use_settings(None)
        reset_process_state()
