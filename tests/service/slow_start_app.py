"""An app factory whose import holds the interpreter lock for ``HOLD_SECONDS``, as a spawned API
process on a busy machine is slow to answer the supervisor's first ping
(``test_api_slow_start``)."""

from __future__ import annotations

import sys
import time

from fastapi import FastAPI

HOLD_SECONDS = 8.0


def _hold() -> None:
    """Run Python for ``HOLD_SECONDS`` without letting another thread of the process run: the
    thread that answers uvicorn's ping waits as on a machine that gives the process no time."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(120.0)
    try:
        end = time.monotonic() + HOLD_SECONDS
        while time.monotonic() < end:
            pass
    finally:
        sys.setswitchinterval(before)


_hold()


def create() -> FastAPI:
    app = FastAPI()

    @app.get("/")
    def root() -> dict[str, bool]:
        return {"up": True}

    return app
