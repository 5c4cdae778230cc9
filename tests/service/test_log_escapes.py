"""A request's path reaches the text log escaped: a line break, an ESC or a NUL in it (sent as
``%0a``, ``%1b``, ``%00``) is written as ``\\n``, ``\\x1b``, ``\\x00``, in the message and the
``study=`` tag alike (was: an unauthenticated request wrote a forged WARNING line of its own
into the log, and cleared the terminal of whoever read it)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from regtune.service.logs import TextFormatter

FORGED = "x%0a01:58:00.000%20WARNING%20regtune.service.api%20admin%20key%20revoked"
CLEARS = "%1b%5b2J%1b%5b3J%1b%5bH%00"


class TextLines(logging.Handler):
    """The lines the text format writes, formatted as they are logged (the ids are the
    request's context's then)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(TextFormatter())
        self.written: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.written.append(self.format(record))


@pytest.fixture
def text_log() -> Iterator[TextLines]:
    access = logging.getLogger("regtune.access")
    handler, level = TextLines(), access.level
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        access.removeHandler(handler)
        access.setLevel(level)


def access_lines(api: TestClient, text_log: TextLines, path: str) -> list[str]:
    """The text log's line(s) for a request of ``path``."""
    text_log.written.clear()
    api.get(path)
    (written,) = text_log.written
    return written.split("\n")


def test_a_path_with_a_line_break_writes_one_line_with_the_break_escaped(
    api: TestClient, text_log: TextLines
) -> None:
    (line,) = access_lines(api, text_log, f"/v1/studies/{FORGED}")
    forged = r"x\n01:58:00.000 WARNING regtune.service.api admin key revoked"
    assert f"GET /v1/studies/{forged} 404" in line
    assert line.endswith(f"study={forged}")


def test_a_path_with_terminal_escapes_writes_them_escaped(
    api: TestClient, text_log: TextLines
) -> None:
    (line,) = access_lines(api, text_log, f"/healthz{CLEARS}")
    assert "\x1b" not in line and "\x00" not in line
    assert r"GET /healthz\x1b[2J\x1b[3J\x1b[H\x00 404" in line


def test_an_ordinary_path_is_written_as_it_is(api: TestClient, text_log: TextLines) -> None:
    (line,) = access_lines(api, text_log, "/v1/studies/abc-1/trials/3")
    assert "GET /v1/studies/abc-1/trials/3 " in line
    assert line.endswith("study=abc-1 trial=3")


def test_a_traceback_keeps_its_lines_and_escapes_what_is_in_them() -> None:
    try:
        raise ValueError("bad path /x\x1b[2J")
    except ValueError:
        record = logging.LogRecord("regtune", logging.ERROR, __file__, 1, "failed", None, None)
        record.exc_info = sys.exc_info()
    lines = TextFormatter().format(record).split("\n")
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == r"ValueError: bad path /x\x1b[2J"
