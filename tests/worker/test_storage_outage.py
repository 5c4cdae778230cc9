"""A worker whose database goes away just after its start's migration check waits for it, as
it waits at registering and at every claim: opening Optuna's storage reads its version table,
and an outage there ended the worker (``error: cannot reach the database``, exit 1, never to
come back outside an orchestrator that restarts it)."""

from __future__ import annotations

import contextvars
import logging
import threading
from functools import partial
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from regtune.service.store.db import close_database, transaction
from regtune.service.store.tables import WorkerRow
from regtune.worker import loop
from regtune.worker.loop import Worker
from tests.inprocess import Apps
from tests.support import wait_for


def test_an_outage_while_the_worker_opens_optunas_storage_is_waited_out(
    apps: Apps, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    apps()
    close_database()  # the worker opens the storage itself, as a fresh process does
    real = loop.get_storage
    failed: list[int] = []

    def storage(*args: Any) -> Any:
        if len(failed) < 2:
            failed.append(1)
            raise OperationalError("SELECT version_num", {}, ConnectionRefusedError("refused"))
        return real(*args)

    monkeypatch.setattr(loop, "get_storage", storage)
    caplog.set_level(logging.INFO, logger="regtune.service.store.backoff")
    worker = Worker()
    thread = threading.Thread(target=contextvars.copy_context().run, args=(worker.run,))
    thread.start()
    try:
        wait_for(partial(_registered, worker.id), timeout=30, what="registered after it")
    finally:
        worker.stopping.set()
        thread.join(timeout=30)
    assert not thread.is_alive() and len(failed) == 2
    said = [r.getMessage() for r in caplog.records if "open Optuna's storage" in r.getMessage()]
    assert said and "refused" in said[0], said


def _registered(worker_id: str) -> bool:
    with transaction() as session:
        return session.get(WorkerRow, worker_id) is not None
