"""``regtune serve`` whose SQLite file is deleted under it says so at once and starts no process
again: a restarted child opened a new, empty file at the path (created the schema afresh) and
the studies' trials ran a second time, while ``/readyz`` answered 200 and nothing was logged
above INFO."""

from __future__ import annotations

import os
import signal
import sqlite3
from contextlib import closing
from pathlib import Path

import httpx

from tests.support import Processes, free_port, process_env, regtune, wait_for


def test_a_deleted_database_file_stops_serve_instead_of_a_new_empty_one(
    tmp_path: Path, processes: Processes
) -> None:
    path = tmp_path / "regtune.db"
    port = free_port()
    serve = processes.start(
        regtune("serve", "--workers", "1", "--api-workers", "1", "--port", str(port)),
        process_env(f"sqlite:///{path}"),
        "serve.log",
    )
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: httpx.get(f"{base}/readyz", timeout=5).status_code == 200, timeout=120)

    path.unlink()
    wait_for(lambda: "was deleted while regtune ran" in serve.log(), timeout=30, what="the error")
    assert httpx.get(f"{base}/readyz", timeout=5).status_code == 503
    worker = int(serve.log().split("(pids ")[1].split(")")[0].split(", ")[1])
    os.kill(worker, signal.SIGKILL)  # a child that ends is not started again on a new file

    assert serve.popen.wait(timeout=60) == 1, serve.log()
    assert "worker 1 ended after the database file was lost; stopping" in serve.log()
    assert "restarted" not in serve.log()
    assert "created the schema" not in serve.log().split("was deleted while regtune ran")[1]
    if path.exists():  # a connection may have made an empty file; no migration filled it
        with closing(sqlite3.connect(path)) as found:
            assert found.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
