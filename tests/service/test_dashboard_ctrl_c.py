"""Ctrl-C stops ``regtune dashboard`` whatever its one-at-a-time loop is doing: raised inside a
request, the KeyboardInterrupt was caught by wsgiref's error handling and the dashboard served
on; with the loop held by a connection that sends nothing (a browser's preconnect), a second
Ctrl-C stops it at once (the first waits for that connection's end)."""

from __future__ import annotations

import signal
import socket
import time

import httpx

from tests.support import Processes, free_port, process_env, regtune, wait_for


def test_a_second_ctrl_c_stops_a_dashboard_a_silent_connection_holds(
    processes: Processes, sqlite_url: str
) -> None:
    port = free_port()
    dashboard = processes.start(
        regtune("dashboard", "--port", str(port)), process_env(sqlite_url), "dashboard.log"
    )
    wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/api/studies", timeout=2).is_success)
    with socket.create_connection(("127.0.0.1", port)):  # open, and silent
        time.sleep(0.5)  # the loop has taken it
        dashboard.signal(signal.SIGINT)
        time.sleep(0.5)
        assert dashboard.popen.poll() is None  # the first waits for the connection's end
        dashboard.signal(signal.SIGINT)
        assert dashboard.popen.wait(timeout=60) == 0, dashboard.log()
