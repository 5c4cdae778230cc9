"""The one clock of the store: naive UTC, as Optuna writes its own timestamps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Float, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class seconds_since(FunctionElement[float]):
    """Seconds from a timestamp column to ``now`` (a naive UTC datetime, or an SQL clock such as
    ``func.current_timestamp()``), in SQL: what a cutoff computed beforehand cannot say when the
    limit it is compared with is a column of each row (a worker's own grace period)."""

    type = Float()
    inherit_cache = True
    name = "seconds_since"

    def __init__(self, then: Any, *, now: Any) -> None:
        if isinstance(now, datetime):
            now = literal(now, DateTime())
        super().__init__(then, now)


@compiles(seconds_since, "sqlite")
def _seconds_since_sqlite(element: seconds_since, compiler: SQLCompiler, **kw: Any) -> str:
    then, now = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"((julianday({now}) - julianday({then})) * 86400.0)"


@compiles(seconds_since, "postgresql")
def _seconds_since_postgresql(element: seconds_since, compiler: SQLCompiler, **kw: Any) -> str:
    then, now = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"EXTRACT(EPOCH FROM ({now} - {then}))"
