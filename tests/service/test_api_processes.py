"""``regtune api --workers 2``: two processes serve one port; exactly one of them sweeps; a revoked
key is refused by both within ``KEY_CACHE_SECONDS``; SIGTERM stops them all and hands the sweep
lease over."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import httpx
from sqlalchemy import select

from regtune.service.store.clock import utcnow
from regtune.service.store.db import make_engine, transaction
from regtune.service.store.repos.keys import KEY_CACHE_SECONDS
from regtune.service.store.tables import LeaseRow
from tests.support import Processes, free_port, process_env, regtune, wait_for

ADMIN = "processes-admin-key-0123456789abcdef"


def _fresh(base: str, key: str) -> int:
    """One request on a new connection, so successive ones reach either process."""
    headers = {"Authorization": f"Bearer {key}", "Connection": "close"}
    return httpx.get(f"{base}/v1/studies", headers=headers, timeout=30).status_code


def test_two_api_processes_share_the_work_and_the_rules(
    tmp_path: Path, processes: Processes
) -> None:
    url = f"sqlite:///{tmp_path / 'regtune.db'}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = processes.start(
        regtune("api", "--port", str(port), "--workers", "2"),
        process_env(url, REGTUNE_ADMIN_KEY=ADMIN),
        "api.log",
    )
    engine = make_engine(url)
    try:
        wait_for(lambda: httpx.get(f"{base}/readyz", timeout=5).status_code == 200, timeout=120)
        admin = {"Authorization": f"Bearer {ADMIN}"}
        created = httpx.post(f"{base}/v1/keys", json={"tenant": "t"}, headers=admin, timeout=30)
        key = created.json()["key"]
        assert all(_fresh(base, key) == 200 for _ in range(20))  # both processes cache it

        def one_holder() -> bool:
            with transaction(engine) as session:
                leases = session.scalars(select(LeaseRow)).all()
            return len(leases) == 1 and leases[0].expires_at > utcnow()

        wait_for(one_holder, timeout=60, what="one process to hold the sweep lease")

        revoked = httpx.delete(f"{base}/v1/keys/{created.json()['id']}", headers=admin, timeout=30)
        assert revoked.status_code == 204
        bound = time.monotonic() + KEY_CACHE_SECONDS
        wait_for(lambda: time.monotonic() >= bound, timeout=KEY_CACHE_SECONDS + 1)
        assert [_fresh(base, key) for _ in range(20)] == [401] * 20

        api.signal(signal.SIGTERM)
        assert api.stop(timeout=60) == 0, api.log()
        with transaction(engine) as session:
            lease = session.scalars(select(LeaseRow)).one()
        assert lease.expires_at <= utcnow()  # handed over on the way out
    finally:
        api.stop()
        engine.dispose()


def test_a_kill_9_of_the_parent_ends_every_api_process(
    tmp_path: Path, processes: Processes
) -> None:
    """No API process outlives ``regtune api``: the port is free again and nobody answers."""
    url = f"sqlite:///{tmp_path / 'regtune.db'}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = processes.start(
        regtune("api", "--port", str(port), "--workers", "2"), process_env(url), "api.log"
    )
    wait_for(lambda: httpx.get(f"{base}/readyz", timeout=5).status_code == 200, timeout=120)
    children = [
        int(pid) for pid in Path(f"/proc/{api.pid}/task/{api.pid}/children").read_text().split()
    ]
    assert len(children) >= 2  # the two API processes (and multiprocessing's resource tracker)

    api.signal(signal.SIGKILL)
    api.popen.wait(timeout=10)

    def all_gone() -> bool:
        return not any(Path(f"/proc/{pid}").exists() for pid in children)

    wait_for(all_gone, timeout=30, what="the API processes to end with their parent")
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # the port is free: no orphan holds it
