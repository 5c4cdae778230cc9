"""An API process slow to start is waited for, not killed: uvicorn's supervisor killed every
process that did not answer its ping within 5 s, and on a busy machine (load 12–17) a spawned
process took longer than that to answer, so each was replaced at its first check with a
WARNING of a crash, and the port answered ~20 s late (``HEALTHCHECK_SECONDS``)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import httpx

from tests.support import Processes, free_port, process_env, wait_for

SERVE = """
import logging, sys
from regtune.service.api.multiprocess import serve
logging.basicConfig(level=logging.INFO, stream=sys.stdout)
raise SystemExit(serve("tests.service.slow_start_app:create", host="127.0.0.1", port={port},
                       processes=2))
"""


def test_api_processes_slower_to_answer_than_5_s_are_not_replaced(
    tmp_path: Path, processes: Processes
) -> None:
    port = free_port()
    env = process_env(f"sqlite:///{tmp_path / 'unused.db'}")
    api = processes.start([sys.executable, "-c", SERVE.format(port=port)], env, "serve.log")
    try:
        wait_for(
            lambda: httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200,
            timeout=60,
            what="the slow API processes to serve",
        )
        log = api.log()
        assert "died" not in log, log  # uvicorn: "Child process [pid] died"
    finally:
        api.signal(signal.SIGTERM)
        api.stop(timeout=30)
