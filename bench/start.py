"""What a part's start pays its database, before and after the start's fast path, side by side.

Every part (``regtune api``, ``worker``, ``serve``, ``migrate``, and each app a test builds)
migrates as it starts, then makes its Optuna storage. On a database already at the newest
schemas, which is every start after the first, each start used to run the schema change anyway
(Optuna's table creation and compatibility check, then Alembic's upgrade to the head it was
at) and its storage created and checked Optuna's tables again. Now migrating reads the two
version rows and stops, and the storage of a database this process migrated skips both.

Measured in turn on one database per backend, ``--repeats`` times each (default 30):

- migrate, before: the reads and the schema change that every ``upgrade`` ran (its body as it
  was); after: ``upgrade`` as it is.
- storage, before: Optuna's ``RDBStorage`` as ``make_storage`` made it (tables created and
  checked); after: ``make_storage`` of the database this process migrated.

    python -m bench.start [--sqlite] [--repeats N]
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from typing import Any

from optuna.storages import RDBStorage

from bench import harness
from regtune.service.store import migrate
from regtune.service.store.db import engine_kwargs, make_engine
from regtune.service.store.optuna_db.storage import make_storage


def _migrate_before(url: str) -> None:
    migrate._scripts.cache_clear()  # each start read regtune's migrations anew
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            migrate.refuse_unknown(migrate.schema_heads(connection), connection)
            migrate.schema_heads(connection)  # it read the revisions again for the refusal's words
        migrate._change_schema(url, engine)
    finally:
        engine.dispose()


def _storage_before(url: str) -> None:
    RDBStorage(url, engine_kwargs=engine_kwargs(url)).engine.dispose()


def _storage_after(url: str) -> None:
    make_storage(url).engine.dispose()


STEPS: dict[str, tuple[Callable[[str], None], Callable[[str], None]]] = {
    "migrate": (_migrate_before, migrate.upgrade),
    "storage": (_storage_before, _storage_after),
}


def _ms(action: Callable[[str], None], url: str) -> float:
    started = time.perf_counter()
    action(url)
    return (time.perf_counter() - started) * 1000


def measure(url: str, repeats: int) -> dict[str, dict[str, Any]]:
    """Each step before and after, alternating, ``repeats`` times; the medians and the ratio."""
    migrate.upgrade(url)  # the database at the newest schemas, and known so in this process
    for before, after in STEPS.values():  # the first call of each pays its imports
        before(url)
        after(url)
    found: dict[str, dict[str, Any]] = {}
    for step, (before, after) in STEPS.items():
        times: dict[str, list[float]] = {"before": [], "after": []}
        for _ in range(repeats):
            times["before"].append(_ms(before, url))
            times["after"].append(_ms(after, url))
        medians = {k: statistics.median(v) for k, v in times.items()}
        found[step] = {**medians, "ratio": medians["before"] / medians["after"], "runs": times}
    return found


def main(argv: list[str] | None = None) -> None:
    args = harness.parse_args(
        __doc__ or "",
        argv,
        extra={"--sqlite": {"action": "store_true", "help": "SQLite only (no PostgreSQL)"}},
    )
    repeats = args.repeats or (3 if args.quick else 30)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    quiet = logging.getLogger("regtune")  # "database is at the newest schema", each time
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        with harness.scratch("start") as tmp, harness.postgres(args.postgres) as server:
            for kind in ["sqlite"] if args.sqlite else ["sqlite", "postgresql"]:
                url = harness.fresh_database(kind, tmp, server, "start")
                results[kind] = measure(url, repeats)
    finally:
        quiet.setLevel(level)  # run in a test's process (--quick), the next test logs as ever
    rows = [
        [kind, step, round(r["before"], 1), round(r["after"], 1), round(r["ratio"], 1)]
        for kind, steps in results.items()
        for step, r in steps.items()
    ]
    headers = ["backend", "step", "before, ms (median)", "after, ms (median)", "before / after"]
    markdown = harness.table(headers, rows)
    payload = {"quick": args.quick, "repeats": repeats, "results": results}
    harness.publish(args.out, "start", payload, markdown)


if __name__ == "__main__":
    main()
