"""A definition is parsed off the event loop: while PyYAML (or ``json``) reads one body, the
same API process answers other requests (was: a 1 MB YAML definition held every request of
the process, ``/healthz`` too, for the 20 s PyYAML took)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from regtune.service.api import body
from regtune.service.spec.definition import EXAMPLE

DEADLINE_S = 60
"""How long a step may take before the test gives up on it (a guard, not a measure)."""


def on_the_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@pytest.mark.parametrize(
    ("loader", "content_type", "text"),
    [
        ("load_yaml", "application/yaml", yaml.safe_dump({**EXAMPLE, "name": "read-aside"})),
        ("load_json", "application/json", json.dumps({**EXAMPLE, "name": "read-aside"})),
    ],
)
def test_another_request_is_answered_while_a_definition_is_parsed(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, loader: str, content_type: str, text: str
) -> None:
    """The parse of a ``POST /v1/studies`` body waits until a ``/healthz`` sent meanwhile has
    been answered, which only a free event loop can do; then the study is created."""
    real: Callable[[str], Any] = getattr(body, loader)
    parsing, answered = threading.Event(), threading.Event()
    events: list[str] = []

    def parse(text: str) -> Any:
        if on_the_event_loop():
            events.append("parsed on the event loop")
            return real(text)
        parsing.set()
        answered.wait(DEADLINE_S)
        events.append("parsed")
        return real(text)

    monkeypatch.setattr(body, loader, parse)
    created: list[httpx.Response] = []
    headers = {"content-type": content_type}
    poster = threading.Thread(
        target=lambda: created.append(api.post("/v1/studies", content=text, headers=headers))
    )
    poster.start()
    deadline = time.monotonic() + DEADLINE_S
    while not parsing.is_set() and poster.is_alive() and time.monotonic() < deadline:
        parsing.wait(0.01)
    health = api.get("/healthz")
    events.append("healthz answered")
    answered.set()
    poster.join(DEADLINE_S)

    assert health.status_code == 200, health.text
    assert events == ["healthz answered", "parsed"]
    assert created and created[0].status_code == 201, created[0].text if created else "no answer"
