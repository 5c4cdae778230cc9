"""``regtune serve`` says how a child ended: a clean exit or a stop on SIGTERM (someone else
stopped it) is a WARNING saying so, only a crash or a kill is an ERROR "died"."""

from __future__ import annotations

import logging
import sys
import time

import pytest

from regtune.service.cli import serve
from tests.support import Processes

SIGNAL_SELF = "import os, signal; os.kill(os.getpid(), signal.{})"
NOT_SERVE = "not asked to by serve"


@pytest.mark.parametrize(
    ("script", "level", "said"),
    [
        ("pass", "WARNING", f"exited with code 0, {NOT_SERVE}"),
        (SIGNAL_SELF.format("SIGTERM"), "WARNING", f"stopped by SIGTERM, {NOT_SERVE}"),
        ("raise SystemExit(143)", "WARNING", f"stopped by SIGTERM (code 143), {NOT_SERVE}"),
        (SIGNAL_SELF.format("SIGINT"), "WARNING", f"stopped by SIGINT, {NOT_SERVE}"),
        ("raise SystemExit(3)", "ERROR", "died with code 3"),
        (SIGNAL_SELF.format("SIGKILL"), "ERROR", "died with signal 9"),
    ],
)
def test_a_child_that_stopped_is_a_warning_and_one_that_crashed_an_error(
    processes: Processes,
    caplog: pytest.LogCaptureFixture,
    script: str,
    level: str,
    said: str,
) -> None:
    # SIGINT's default is KeyboardInterrupt in Python: reset it, as a worker's is under serve
    prelude = "import signal; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    proc = processes.start([sys.executable, "-c", prelude + script], {}, "child.log")
    proc.popen.wait(timeout=60)
    child = serve.Child("worker 1", [], {}, critical=False, is_worker=True, popen=proc.popen)
    child.started_at = time.monotonic()

    with caplog.at_level(logging.INFO, logger=serve.__name__):
        assert child.died(time.monotonic())

    (record,) = [r for r in caplog.records if r.name == serve.__name__]
    assert record.levelname == level
    shown = record.getMessage()
    assert shown.startswith(f"worker 1 (pid {proc.pid}) {said}; restarting in "), shown
