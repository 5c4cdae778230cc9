"""Embedded mode: the API, N workers and optionally the dashboard as child processes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

from service.settings import get_settings
from service.store.migrate import upgrade

log = logging.getLogger(__name__)


def _spawn(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, env=os.environ.copy())


def serve(*, host: str, port: int, workers: int, dashboard: bool, dashboard_port: int) -> int:
    """Run until Ctrl-C or SIGTERM, then stop every child (workers hand their trials back)."""
    settings = get_settings()
    upgrade(settings.database_url)
    me = [sys.executable, "-m", "service.cli.app"]
    children = [_spawn([*me, "api", "--host", host, "--port", str(port)])]
    children += [_spawn([*me, "worker"]) for _ in range(workers)]
    if dashboard:
        children.append(
            _spawn(
                [
                    sys.executable,
                    "-m",
                    "service.cli.app",
                    "dashboard",
                    "--host",
                    host,
                    "--port",
                    str(dashboard_port),
                ]
            )
        )
    print(f"regtune API        http://{host}:{port}  (docs: http://{host}:{port}/docs)", flush=True)
    print(f"workers            {workers} on {settings.database_url}", flush=True)
    if dashboard:
        print(f"optuna-dashboard   http://{host}:{dashboard_port}", flush=True)

    stopping = False

    def _stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    code = 0
    while not stopping:
        for child in children:
            if child.poll() is not None:
                log.error("child %s exited with %s; stopping", child.args, child.returncode)
                stopping, code = True, 1
        time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    return code
