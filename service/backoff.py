"""Retrying with capped exponential back-off while the database is away."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

T = TypeVar("T")
log = logging.getLogger(__name__)
TRANSIENT = (OperationalError, DBAPIError, ConnectionError, TimeoutError)


class Backoff:
    """Capped exponential delays with jitter; ``reset`` after a success."""

    def __init__(self, first: float, cap: float) -> None:
        self.first = first
        self.cap = cap
        self.current = first

    def next(self) -> float:
        delay = self.current
        self.current = min(self.cap, self.current * 2)
        return delay * (0.75 + random.random() / 2)

    def reset(self) -> None:
        self.current = self.first


def retry_forever(
    action: Callable[[], T],
    *,
    what: str,
    first: float = 0.5,
    cap: float = 10.0,
    stop: threading.Event | None = None,
) -> T:
    """Run ``action`` until it succeeds, sleeping between transient database errors."""
    backoff = Backoff(first, cap)
    while True:
        try:
            return action()
        except TRANSIENT as exc:
            delay = backoff.next()
            log.warning("could not %s (%s); retrying in %.1fs", what, type(exc).__name__, delay)
            if stop is not None and stop.wait(delay):
                raise
            if stop is None:
                time.sleep(delay)
