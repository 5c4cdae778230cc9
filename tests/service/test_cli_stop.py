"""A stopped API ends cleanly however many processes it has: ``regtune api`` stopped by SIGTERM
or Ctrl-C, and ``regtune serve`` stopped by Ctrl-C, exit 0 and remove the metrics directory
they made (``PROMETHEUS_MULTIPROC_DIR``). One API process used to die of the signal it was
stopped by, again, after uvicorn's shutdown: status 143 and a directory left in the temporary
folder at every stop."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest

from tests.support import Processes, free_port, process_env, regtune, wait_for


def metrics_directories(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("regtune-metrics-*"))


def ready(port: int) -> None:
    wait_for(
        lambda: httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200,
        timeout=90,
        what="API ready",
    )


@pytest.fixture
def private_tmp(tmp_path: Path) -> Path:
    """The processes' TMPDIR: what they leave there is theirs alone."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    return folder


@pytest.mark.parametrize(
    ("processes_", "sig"),
    [(1, signal.SIGTERM), (1, signal.SIGINT), (2, signal.SIGTERM)],
    ids=["1-SIGTERM", "1-SIGINT", "2-SIGTERM"],
)
def test_a_stopped_api_exits_0_and_removes_its_metrics_directory(
    tmp_path: Path, private_tmp: Path, processes: Processes, processes_: int, sig: signal.Signals
) -> None:
    port = free_port()
    env = process_env(f"sqlite:///{tmp_path / 'regtune.db'}", TMPDIR=str(private_tmp))
    api = processes.start(
        regtune("api", "--port", str(port), "--workers", str(processes_)), env, "api.log"
    )
    ready(port)
    assert len(metrics_directories(private_tmp)) == 1, api.log()

    api.signal(sig)
    api.popen.wait(timeout=60)

    assert api.popen.returncode == 0, api.log()
    assert metrics_directories(private_tmp) == [], api.log()


def test_serve_stopped_by_ctrl_c_exits_0_and_its_api_removes_its_metrics_directory(
    tmp_path: Path, private_tmp: Path, processes: Processes
) -> None:
    """Ctrl-C reaches every process of the terminal's foreground group: serve, which then
    sends SIGTERM to its API, and the API itself."""
    port = free_port()
    env = process_env(f"sqlite:///{tmp_path / 'regtune.db'}", TMPDIR=str(private_tmp))
    serve = processes.start(
        regtune("serve", "--workers", "0", "--api-workers", "1", "--port", str(port)),
        env,
        "serve.log",
        session=True,
    )
    ready(port)
    assert len(metrics_directories(private_tmp)) == 1, serve.log()

    os.killpg(serve.pid, signal.SIGINT)
    serve.popen.wait(timeout=60)

    assert serve.popen.returncode == 0, serve.log()
    assert metrics_directories(private_tmp) == [], serve.log()
