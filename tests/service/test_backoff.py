"""Retrying while the database is away: transient errors wait, others and a stop do not."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy.exc import OperationalError

from regtune.service.store.backoff import retry_forever


def _flaky(failures: int) -> tuple[list[int], Callable[[], str]]:
    calls: list[int] = []

    def action() -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise OperationalError("SELECT 1", {}, ConnectionError("server closed the connection"))
        return "done"

    return calls, action


def test_transient_errors_are_retried_until_success() -> None:
    calls, action = _flaky(3)
    assert retry_forever(action, what="test", first=0.001, cap=0.002) == "done"
    assert len(calls) == 4


def test_other_errors_are_not_retried() -> None:
    calls: list[int] = []

    def action() -> None:
        calls.append(1)
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError):
        retry_forever(action, what="test", first=0.001)
    assert calls == [1]


def test_a_stop_gives_up_with_the_last_error() -> None:
    stop = threading.Event()
    stop.set()
    calls, action = _flaky(100)
    with pytest.raises(OperationalError):
        retry_forever(action, what="test", first=0.001, stop=stop)
    assert len(calls) == 1
