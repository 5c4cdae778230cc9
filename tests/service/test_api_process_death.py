"""An API process of ``regtune api --workers N`` that dies (an OOM kill, a crash) is replaced by
uvicorn's supervisor, and the log says so as a WARNING naming the process (was: uvicorn's INFO
"Child process [N] died", filtered out with its start-up chatter: nothing in the log at all)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import httpx

from tests.service.test_api_metrics_processes import _children
from tests.support import Processes, free_port, process_env, regtune, wait_for


def test_a_killed_api_process_is_logged_as_a_warning_and_replaced(
    tmp_path: Path, processes: Processes
) -> None:
    port = free_port()
    api = processes.start(
        regtune("api", "--port", str(port), "--workers", "2"),
        process_env(f"sqlite:///{tmp_path / 'regtune.db'}", REGTUNE_LOG_FORMAT="json"),
        "api.log",
    )
    wait_for(
        lambda: httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=3).status_code == 200,
        timeout=120,
        what="ready",
    )
    first, second = wait_for(
        lambda: (c := _children(api.popen.pid)) and len(c) == 2 and c, timeout=60, what="2"
    )

    os.kill(first, signal.SIGKILL)

    def line() -> dict[str, object] | None:
        for text in api.log().splitlines():
            if text.startswith("{") and f"API process {first} ended" in text:
                return json.loads(text)
        return None

    found = wait_for(line, timeout=60, what="the line about the killed process")
    assert found["level"] == "WARNING", found
    assert found["msg"] == (
        f"API process {first} ended (killed, out of memory, crashed, or hung past uvicorn's "
        "health check); another was started in its place"
    )
    replaced = wait_for(
        lambda: (c := _children(api.popen.pid)) and len(c) == 2 and first not in c and c,
        timeout=60,
        what="a new process",
    )
    assert second in replaced
