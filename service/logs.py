"""Logging for the API and the workers: one JSON object per line, with study and trial ids.

The ids come from context variables that the API (per request) and the worker (per claimed
trial) set, so every line written meanwhile carries them — including Optuna's and uvicorn's,
which are routed through the same handler. Secrets never reach a line: bearer tokens and
``key=`` values are masked.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

study_var: ContextVar[str | None] = ContextVar("regtune_study_id", default=None)
trial_var: ContextVar[int | None] = ContextVar("regtune_trial", default=None)
worker_var: ContextVar[str | None] = ContextVar("regtune_worker_id", default=None)

_SECRET = re.compile(r"(?i)(bearer\s+|(?:api[_-]?)?key[=:]\s*|\b(?=rt_))[A-Za-z0-9._~+/=-]{4,}")
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def redact(text: str) -> str:
    return _SECRET.sub(lambda m: m.group(1) + "***", text)


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", "study_id", "trial", "worker_id", ...extras}``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
            "study_id": getattr(record, "study_id", None) or study_var.get(),
            "trial": _first(getattr(record, "trial", None), trial_var.get()),
            "worker_id": getattr(record, "worker_id", None) or worker_var.get(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in entry and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool) else redact(str(value))
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        ids = [f"study={study_var.get()}" if study_var.get() else ""]
        ids.append(f"trial={trial_var.get()}" if trial_var.get() is not None else "")
        line = redact(super().format(record))
        return " ".join([line, *filter(None, ids)])


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def setup(*, fmt: str = "json", level: str = "INFO") -> None:
    """Route every logger (ours, uvicorn's, Optuna's) to stderr in one format."""
    import optuna

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.captureWarnings(True)  # warnings become JSON lines too
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
