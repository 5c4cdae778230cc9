"""A stopped API ends cleanly however many processes it has: ``regtune api`` stopped by SIGTERM
or Ctrl-C, and ``regtune serve`` stopped by Ctrl-C, exit 0 and remove the metrics directory
they made (``PROMETHEUS_MULTIPROC_DIR``). One API process used to die of the signal it was
stopped by, again, after uvicorn's shutdown: status 143 and a directory left in the temporary
folder at every stop.

Each says so in its log, once for all its processes: which signal told it to stop, then that
it stopped and how long that took. Its last line was the warm-up's, so a stop read as a hang or
a process gone."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest

from tests.support import Processes, free_port, process_env, regtune, wait_for


def metrics_directories(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("regtune-metrics-*"))


def said(log: str, words: str) -> list[int]:
    """The numbers of the log's lines that say ``words`` (regtune's text lines)."""
    return [i for i, line in enumerate(log.splitlines()) if words in line]


def says_its_stop_once(log: str, who: str, sig: signal.Signals) -> None:
    """``who`` says once that a signal (``sig``, or another a stop sent) told it to stop, then
    once that it stopped, each as an INFO line of regtune's text format."""
    told, stopped = said(log, f"{who} told to stop by "), said(log, f"{who} stopped ")
    assert len(told) == 1 and len(stopped) == 1 and told[0] < stopped[0], log
    lines = log.splitlines()
    assert f"{who} told to stop by {sig.name}" in lines[told[0]], log
    assert all(" INFO " in lines[i] for i in (told[0], stopped[0])), log


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
def test_a_stopped_api_says_so_exits_0_and_removes_its_metrics_directory(
    tmp_path: Path, private_tmp: Path, processes: Processes, processes_: int, sig: signal.Signals
) -> None:
    port = free_port()
    env = process_env(
        f"sqlite:///{tmp_path / 'regtune.db'}", TMPDIR=str(private_tmp), REGTUNE_LOG_FORMAT="text"
    )
    api = processes.start(
        regtune("api", "--port", str(port), "--workers", str(processes_)), env, "api.log"
    )
    ready(port)
    assert len(metrics_directories(private_tmp)) == 1, api.log()

    api.signal(sig)
    api.popen.wait(timeout=60)

    assert api.popen.returncode == 0, api.log()
    assert metrics_directories(private_tmp) == [], api.log()
    says_its_stop_once(api.log(), "API", sig)
    stopped = api.log().splitlines()[said(api.log(), "API stopped ")[0]]
    assert f"after {sig.name}" in stopped, api.log()


def test_serve_stopped_by_ctrl_c_says_so_once_exits_0_and_its_api_removes_its_metrics_directory(
    tmp_path: Path, private_tmp: Path, processes: Processes
) -> None:
    """Ctrl-C reaches every process of the terminal's foreground group: serve, which then
    sends SIGTERM to its API, and the API itself. Each says its stop once: serve, and the API
    (told by the first of the two signals)."""
    port = free_port()
    env = process_env(
        f"sqlite:///{tmp_path / 'regtune.db'}", TMPDIR=str(private_tmp), REGTUNE_LOG_FORMAT="text"
    )
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
    says_its_stop_once(serve.log(), "serve", signal.SIGINT)
    told, stopped = said(serve.log(), "API told to stop by "), said(serve.log(), "API stopped ")
    assert len(told) == 1 and len(stopped) == 1, serve.log()
    assert said(serve.log(), "serve stopped ")[0] > stopped[0], serve.log()  # serve ends last
