"""``regtune dashboard`` logs as the rest of regtune does: one JSON object a line off a
terminal, an access line per request with its status and duration, where wsgiref printed
Apache-style lines and Bottle its banner."""

from __future__ import annotations

import json
import signal

import httpx

from tests.support import Processes, free_port, process_env, regtune, wait_for


def test_the_dashboards_lines_are_json_with_an_access_line_per_request(
    processes: Processes, sqlite_url: str
) -> None:
    port = free_port()
    dashboard = processes.start(
        regtune("dashboard", "--port", str(port)), process_env(sqlite_url), "dashboard.log"
    )
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: httpx.get(f"{base}/api/studies", timeout=2).status_code == 200)
    assert httpx.get(f"{base}/api/studies/12345?x=1", timeout=10).status_code == 404
    wait_for(lambda: "/api/studies/12345" in dashboard.log(), what="the access line")
    dashboard.signal(signal.SIGINT)
    assert dashboard.popen.wait(timeout=30) == 0, dashboard.log()

    lines = [json.loads(line) for line in dashboard.log().splitlines() if line.strip()]
    accesses = [line for line in lines if line["logger"] == "regtune.dashboard.access"]
    assert accesses[-1]["msg"].startswith("GET /api/studies/12345 404 "), accesses
    assert accesses[-1]["status"] == 404 and accesses[-1]["duration_ms"] >= 0
    assert all(line["msg"].startswith("GET /api/studies") for line in accesses), accesses
    assert "optuna-dashboard on" in lines[0]["msg"], lines[0]
