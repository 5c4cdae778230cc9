"""``regtune serve`` survives its children, and trials that kill or starve workers end their
study instead of the pool (issue 15, items 1 and 2)."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from typing import Any

import httpx
import pytest

from tests.support import Processes, StackFactory, free_port, process_env, regtune, wait_for

ADMIN = "serve-admin-key-0123456789abcdef"


def definition(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"s-{uuid.uuid4().hex[:8]}",
        "dataset": {"synthetic": {"kind": "sparse_regression", "n_samples": 500}},
        "model": {"kind": "linear"},
        "search_space": {"lambda": {"low": 1e-4, "high": 1.0, "log": True}, "l1_ratio": 0.5},
        "training": {"max_epochs": 5, "batch_size": 64},
        "pruner": {"type": "none"},
        "budget": {"n_trials": 4, "max_parallel": 1, "max_retries": 1},
    }
    body.update(changes)
    return body


class Served:
    """``regtune serve`` as a child process, with its API's URL; one API process (the default,
    one per CPU, is ``test_serve_prints_the_urls_once_the_api_answers``'s)."""

    def __init__(self, processes: Processes, url: str, *args: str, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = processes.start(
            regtune("serve", "--port", str(self.port), "--api-workers", "1", *args),
            process_env(url, **env),
            f"serve-{self.port}.log",
        )
        wait_for(
            lambda: httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200,
            timeout=120,
            what="the API of regtune serve",
        )

    def workers(self) -> list[dict[str, Any]]:
        return httpx.get(f"{self.url}/v1/workers", timeout=10).json()

    def api_pid(self) -> int:
        out = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid), "-f", f"api --host 127.0.0.1 --port {self.port}"],
            capture_output=True,
            text=True,
            check=False,
        )
        return int(out.stdout.split()[0])


@pytest.fixture
def served(processes: Processes, sqlite_url: str) -> Any:
    started: list[Served] = []

    def start(*args: str, **env: str) -> Served:
        started.append(Served(processes, sqlite_url, *args, **env))
        return started[-1]

    yield start
    for s in started:
        assert s.proc.stop(timeout=60) == 0, s.proc.log()[-3000:]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_killed_child_is_restarted_and_the_api_stays_up(served: Any) -> None:
    serve = served("--workers", "2")
    listed = wait_for(lambda: len(serve.workers()) == 2 and serve.workers(), what="2 workers")
    first = {w["pid"] for w in listed}
    victim = sorted(first)[0]
    os.kill(victim, signal.SIGKILL)
    assert httpx.get(f"{serve.url}/healthz", timeout=10).status_code == 200  # the API lives on

    def replaced() -> bool:
        pids = {w["pid"] for w in serve.workers()}
        return gone(victim) and victim not in pids and len(pids) == 2

    wait_for(replaced, timeout=180, what="the killed worker to be replaced")
    api = serve.api_pid()
    os.kill(api, signal.SIGKILL)
    wait_for(
        lambda: gone(api) and httpx.get(f"{serve.url}/readyz", timeout=2).status_code == 200,
        timeout=180,
        what="the API to be restarted",
    )
    assert serve.proc.alive()
    log = serve.proc.log()
    assert "died with signal 9; restarting" in log and "worker" in log


def test_a_trial_that_kills_its_worker_fails_the_study(served: Any) -> None:
    """Each claim of the study SIGKILLs its worker: after max_retries + 1 deaths the study is
    failed with the reason, the pool (restarted worker, API) carries on with other studies."""
    serve = served("--workers", "1", REGTUNE_OBJECTIVE_FACTORY="tests.objectives:kill_the_worker")
    study = httpx.post(f"{serve.url}/v1/studies", json=definition(), timeout=30).json()

    def ended() -> dict[str, Any] | None:
        s = httpx.get(f"{serve.url}/v1/studies/{study['id']}", timeout=10).json()
        return s if s["status"] != "running" and s["status"] != "queued" else None

    final = wait_for(ended, timeout=300, interval=1, what="the study to end")
    assert final["status"] == "failed", final
    assert "died 2 times" in final["error"], final["error"]
    trials = httpx.get(f"{serve.url}/v1/studies/{study['id']}/trials", timeout=10).json()
    seen = f"{final}\n{trials}\n{serve.proc.log()[-6000:]}"  # what a failure here needs told
    assert final["counts"]["FAIL"] == 2 and final["counts"]["WAITING"] == 0, seen
    assert serve.proc.alive() and serve.proc.log().count("died with signal 9") >= 2
    assert httpx.get(f"{serve.url}/healthz", timeout=10).status_code == 200


def test_a_trial_over_the_memory_limit_fails_and_the_worker_lives(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    """The API admits a model of 117 M parameters (its budget raised); the worker's own limit
    (1.5 GB) makes each trial fail with an allocation error instead of an OOM kill."""
    stack = stack_factory(
        sqlite_url,
        REGTUNE_MAX_TRIAL_MEMORY_MB="65536",
        REGTUNE_MAX_TRIAL_TFLOP="100000",
        REGTUNE_WORKER_MEMORY_MB="1500",
    ).start_api()
    (worker,) = stack.start_workers(1)
    big = definition(model={"kind": "mlp", "hidden_layers": [4096] * 8})
    study = stack.submit(big)
    final = stack.wait_status(study["id"], ("failed", "completed"), timeout=600)
    assert final["status"] == "failed", final
    assert "memory" in final["error"].lower(), final["error"]
    assert final["counts"]["FAIL"] == 2
    assert worker.alive()
    small = stack.submit(definition())  # the same worker then runs a study that fits
    assert stack.wait_status(small["id"], timeout=300)["progress"]["done"] == 4


def non_loopback_address() -> str | None:
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=False)
    found = [a for a in out.stdout.split() if "." in a and not a.startswith("127.")]
    return found[0] if found else None


def test_the_dashboard_is_never_served_off_loopback(
    served: Any, sqlite_url: str, processes: Processes
) -> None:
    refused = processes.run(
        regtune("dashboard", "--host", "0.0.0.0", "--port", str(free_port())),
        env=process_env(sqlite_url, REGTUNE_ADMIN_KEY=ADMIN),
    )
    assert refused.returncode == 2, refused.stderr
    assert "no authentication" in refused.stderr

    port = free_port()
    serve = served(
        "--host",
        "0.0.0.0",
        "--workers",
        "0",
        "--dashboard",
        "--dashboard-port",
        str(port),
        REGTUNE_ADMIN_KEY=ADMIN,
    )
    wait_for(
        lambda: httpx.get(f"http://127.0.0.1:{port}/api/studies", timeout=5).status_code == 200,
        timeout=120,
        what="the dashboard on loopback",
    )
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to try")
    api = httpx.get(f"http://{address}:{serve.port}/readyz", timeout=5)
    assert api.status_code == 200  # the API is on the network (with keys) ...
    with pytest.raises(httpx.ConnectError):  # ... the dashboard is not
        httpx.get(f"http://{address}:{port}/api/studies", timeout=5)
    assert "listens on 127.0.0.1 only" in serve.proc.log()


def test_serve_prints_the_urls_once_the_api_answers(processes: Processes, sqlite_url: str) -> None:
    """``regtune serve`` printed the API's URL as it started its children, seconds before the
    API listened (26 s on a busy machine): a user who opened it, or a script that went on to
    ``regtune submit``, met "Connection refused". The URLs now come once the API answers."""
    port = free_port()
    proc = processes.start(
        regtune("serve", "--port", str(port), "--workers", "0"),
        process_env(sqlite_url),
        f"serve-{port}.log",
    )
    wait_for(lambda: "regtune API" in proc.log(), timeout=120, what="serve's URLs")
    answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)  # at once, no retry
    assert answer.status_code == 200, proc.log()[-3000:]
    assert proc.stop(timeout=60) == 0, proc.log()[-3000:]
