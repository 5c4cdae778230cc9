"""Logging for the API and the workers, with study, trial and worker ids on every line.

Two formats: short human lines on a terminal, one JSON object per line otherwise (a file, a
pipe, a container's log collector); ``REGTUNE_LOG_FORMAT`` (auto | text | json) overrides the
guess. The ids come from context variables that the API (per request) and the worker (per
claimed trial) set, so every line written meanwhile carries them — including Optuna's and
uvicorn's, which are routed through the same handler. Secrets never reach a line: bearer tokens,
``key=`` values and regtune's API keys are masked.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import warnings
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

LogFormat = Literal["auto", "json", "text"]

study_var: ContextVar[str | None] = ContextVar("regtune_study_id", default=None)
trial_var: ContextVar[int | None] = ContextVar("regtune_trial", default=None)
worker_var: ContextVar[str | None] = ContextVar("regtune_worker_id", default=None)

QUIET = ("alembic", "uvicorn.error", "httpx", "httpcore")
"""Libraries whose INFO lines are start-up chatter (Alembic's plugin set-up and migration
context, uvicorn's lifecycle): WARNING and up only, unless the log level is DEBUG. A filter on
the handler, not logger levels, because uvicorn sets its loggers' levels itself."""
IN_MEMORY = "A new study created in memory"
"""The start of Optuna's INFO line for every report's scratch study (``no-name-…``), quiet too:
it reads as if a study were not stored."""

_SECRET = re.compile(r"(?i)(bearer\s+|(?:api[_-]?)?key[=:]\s*)[A-Za-z0-9._~+/=-]{4,}")
"""A token after ``Bearer`` or ``key=``, whatever its shape (an admin key is anyone's text)."""
_API_KEY = re.compile(r"(?<![A-Za-z0-9_-])rt_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")
"""An API key anywhere, in the shape ``repos.keys.create_key`` gives it: ``rt_`` and 32 random
bytes in URL-safe base64 (43 characters); not any word that starts with ``rt_`` (a study named
``rt_lasso``)."""
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's copy of the message with terminal colours
}
_TAGS = (("study_id", "study"), ("trial", "trial"), ("worker_id", "worker"))
_LEVEL_COLOURS = {"WARNING": "33", "ERROR": "31", "CRITICAL": "1;31", "DEBUG": "2"}


_URL_PASSWORD = re.compile(r"(?i)(://[^/\s:@]*:)[^/\s]+@|([?&](?:ssl)?password=)[^&#\s'\"]+")
"""A password in a URL: before its ``@`` or as a query parameter (libpq's ``?password=``)."""


def redact(text: str) -> str:
    text = _API_KEY.sub("***", _SECRET.sub(lambda m: m.group(1) + "***", text))
    return _URL_PASSWORD.sub(
        lambda m: f"{m.group(1)}***@" if m.group(1) else f"{m.group(2)}***", text
    )


def _ids(record: logging.LogRecord) -> dict[str, Any]:
    return {
        "study_id": getattr(record, "study_id", None) or study_var.get(),
        "trial": _first(getattr(record, "trial", None), trial_var.get()),
        "worker_id": getattr(record, "worker_id", None) or worker_var.get(),
    }


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", "study_id", "trial", "worker_id", ...extras}``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
            **_ids(record),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in entry and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool) else redact(str(value))
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """``12:04:31.207 INFO  regtune.worker.trial_run  study 3f… trial 4 started  study=3f…
    trial=4``: local time, the level (coloured on a colour terminal), the logger, the message,
    then the ids."""

    def __init__(self, *, colour: bool = False) -> None:
        super().__init__()
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        level = f"{record.levelname:<7}"
        if self.colour and record.levelname in _LEVEL_COLOURS:
            level = f"\x1b[{_LEVEL_COLOURS[record.levelname]}m{level}\x1b[0m"
        ids = _ids(record)
        tags = [f"{name}={escaped(str(ids[key]))}" for key, name in _TAGS if ids[key] is not None]
        message = escaped(record.getMessage())
        line = "  ".join([f"{when} {level} {record.name}", message, " ".join(tags)])
        if record.exc_info:
            lines = self.formatException(record.exc_info).splitlines()
            line += "\n" + "\n".join(escaped(traceback_line) for traceback_line in lines)
        return redact(line.rstrip())


def escaped(text: str) -> str:
    """``text`` with every character that is not printable as its escape (``\\n``, ``\\x1b``,
    ``\\u202e``), as an error message repeats a value: a request's path (``%0a``, ``%1b[2J``)
    can neither write a line of its own into the log nor drive the terminal that shows it."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


_CHILD_DIED = re.compile(r"^Child process \[(\d+)\] died$")
"""uvicorn's supervisor (``regtune api --workers N``) at INFO when it replaces an API process
that exited or stopped answering: an operator's event (an OOM kill), not start-up chatter."""


class OperatorEvents(logging.Filter):
    """uvicorn's line about a replaced API process, as a WARNING that says what happened."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.error" and isinstance(record.msg, str):
            died = _CHILD_DIED.match(record.msg)
            if died is not None:
                _replaced(record, int(died.group(1)))
        return True


def _replaced(record: logging.LogRecord, pid: int) -> None:
    record.msg = (
        "API process %s ended (killed, out of memory, crashed, or hung past uvicorn's health "
        "check); another was started in its place"
    )
    record.args = (pid,)
    record.levelno, record.levelname = logging.WARNING, "WARNING"


class AtLeast(logging.Filter):
    """Lines at ``level`` or above, whichever logger wrote them: the root's level alone passes a
    library logger's lines at the level that logger sets itself (Optuna's is INFO, so
    ``REGTUNE_LOG_LEVEL=WARNING`` still logged every trial). A filter, not the handler's level,
    so that it judges a line after ``OperatorEvents`` has raised it."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level


class QuietLibraries(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        if record.name.startswith("optuna.") and str(record.msg).startswith(IN_MEMORY):
            return False
        return not any(record.name == n or record.name.startswith(n + ".") for n in QUIET)


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or not a real file
        return False


def formatter(fmt: LogFormat, stream: TextIO) -> logging.Formatter:
    """``auto``: text for a person at a terminal, JSON for anything else."""
    terminal = is_terminal(stream)
    if fmt == "json" or (fmt == "auto" and not terminal):
        return JsonFormatter()
    return TextFormatter(colour=terminal and "NO_COLOR" not in os.environ)


def setup(*, fmt: LogFormat = "auto", level: str = "INFO", stream: TextIO | None = None) -> None:
    """Route every logger (ours, uvicorn's, Optuna's) to ``stream`` (stderr) in one format."""
    import optuna

    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(fmt, stream))
    handler.addFilter(OperatorEvents())  # before QuietLibraries: it raises their level
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # its INFO line about a replaced API process is made, for OperatorEvents to raise to a
    # WARNING, whatever the level; AtLeast below leaves out the rest
    logging.getLogger("uvicorn.error").setLevel(min(logging.INFO, logging.getLevelName(level)))
    # regtune's access log (regtune.service.api.observability) writes one line per request;
    # uvicorn's would be a second, paid on the event loop, whoever set up the logging first.
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = []
    access.propagate = False
    if logging.getLevelName(level) != logging.DEBUG:
        handler.addFilter(QuietLibraries())
        # regtune opts into Optuna's experimental heartbeat on purpose: no warning per process
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    handler.addFilter(AtLeast(logging.getLevelName(level)))
    if logging.getLevelName(level) > logging.INFO:  # Optuna makes no INFO line to drop
        optuna.logging.set_verbosity(logging.getLevelName(level))
    logging.captureWarnings(True)  # warnings become log lines too
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()


@contextlib.contextmanager
def context(*, study_id: str | None = None, trial: int | None = None) -> Iterator[None]:
    """Tag every line logged inside with these ids; the previous ids come back afterwards."""
    tokens = (study_var.set(study_id), trial_var.set(trial))
    try:
        yield
    finally:
        study_var.reset(tokens[0])
        trial_var.reset(tokens[1])
