"""``regtune api --workers 2``: /metrics in either process counts the requests of both.

Which process accepts a connection is the kernel's choice, so the test picks for it: while one
process is stopped (SIGSTOP) the other accepts every new connection. Requests go to one process,
the scrape to the other.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support import Processes, free_port, process_env, regtune, wait_for

REQUESTS = 10
HEALTHZ = re.compile(
    r'^regtune_http_request_duration_seconds_count\{method="GET",route="/healthz",'
    r'status="200"\} (\S+)$',
    re.M,
)
PROCESS = re.compile(r'^regtune_api_processes\{pid="(\d+)"\} 1\.0$', re.M)


def _children(pid: int) -> list[int]:
    """The uvicorn worker processes of the API process ``pid`` (multiprocessing's spawned)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"spawn_main" in cmdline:
                found.append(int(child))
    return sorted(found)


def _environ(pid: int) -> dict[str, str]:
    pairs = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
    return dict(p.split("=", 1) for p in pairs if "=" in p)


@contextmanager
def _stopped(pid: int) -> Iterator[None]:
    """``pid`` accepts nothing meanwhile; kept short: uvicorn restarts a child silent for 5 s."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def _get(url: str) -> httpx.Response:
    """One request on a new connection, so the kernel hands it to an accepting process."""
    return httpx.get(url, headers={"Connection": "close"}, timeout=3)


def _healthz_count(metrics: str) -> float:
    match = HEALTHZ.search(metrics)
    return float(match.group(1)) if match else 0.0


def test_metrics_of_one_process_count_the_requests_of_the_other(
    tmp_path: Path, processes: Processes
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = processes.start(
        regtune("api", "--port", str(port), "--workers", "2"),
        process_env(f"sqlite:///{tmp_path / 'regtune.db'}"),
        "api.log",
    )
    try:
        wait_for(lambda: _get(f"{base}/readyz").status_code == 200, timeout=120, what="ready")
        first, second = wait_for(
            lambda: (c := _children(api.popen.pid)) and len(c) == 2 and c,
            timeout=60,
            what="two API processes",
        )
        shared = Path(_environ(first)["PROMETHEUS_MULTIPROC_DIR"])
        assert shared.is_dir() and shared.name.startswith("regtune-metrics-")
        before = _healthz_count(_get(f"{base}/metrics").text)

        with _stopped(second):  # every request reaches the first process
            assert [_get(f"{base}/healthz").status_code for _ in range(REQUESTS)] == [
                200
            ] * REQUESTS
            # a request is counted once its answer is sent: the last may still be on its way
            wait_for(
                lambda: _healthz_count(_get(f"{base}/metrics").text) - before >= REQUESTS,
                timeout=30,
                what="the first process counting its requests",
            )
        with _stopped(first):  # the second process answers the scrape
            metrics = _get(f"{base}/metrics").text

        assert _healthz_count(metrics) - before == REQUESTS
        assert sorted(int(p) for p in PROCESS.findall(metrics)) == [first, second]

        # a child that dies is marked dead: uvicorn's replacement shows, the dead one does not
        os.kill(first, signal.SIGKILL)
        replaced = wait_for(
            lambda: (c := _children(api.popen.pid)) and len(c) == 2 and first not in c and c,
            timeout=60,
            what="uvicorn to replace the killed process",
        )

        def live() -> list[int] | None:
            text = _get(f"{base}/metrics").text
            pids = sorted(int(p) for p in PROCESS.findall(text))
            return pids if pids == replaced else None

        wait_for(live, timeout=60, what="the dead process's series to go")
        assert _healthz_count(_get(f"{base}/metrics").text) - before >= REQUESTS  # kept
    finally:
        api.signal(signal.SIGTERM)
        api.stop(timeout=60)
    assert not shared.exists(), "the metrics directory outlived the API"
