"""The study report on big studies: how long the API takes to build it, what it ships, how long
a browser takes to draw it, beside optuna-dashboard's study request on the same database.

A finished study of 10,000 (and 100,000) trials is written straight into the database, row for
row what Optuna's ``add_trials`` writes (``bench.api_seed``: 70 % COMPLETE, 30 % PRUNED, 4
parameters, curves of up to 10 epochs, 8 user attributes): on SQLite with ``executemany``, on
PostgreSQL with ``COPY``. For each size: the report's build time server-side (the first build of
the process, then the median of the next ones, split into the SQL reads and the rest), the page's
size and the points it carries; the time headless Chromium takes to open the page and draw every
plot (first open of a fresh profile, then a reload); and optuna-dashboard's
``GET /api/studies/{id}`` (what its study page fetches) in-process, one request, where the size
allows it.

    python -m bench.report [--quick] [--sizes 10000,100000] [--backend sqlite|postgresql]
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import harness
from bench.api_seed import COLUMNS, OPTUNA_BATCH, _copy_rows, _frozen, _trial, definition

BUILDS = 5
"""Report builds timed per size after the first."""
DASHBOARD_MAX = 20_000
"""Largest study whose optuna-dashboard request is timed (it loads every trial: at 100,000 it
takes minutes)."""


def bulk_insert_sqlite(url: str, optuna_study_id: int, first_number: int, n: int) -> None:
    """Append ``n`` finished trials to an Optuna study on SQLite in one transaction."""
    import sqlite3

    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        first_id = int(
            conn.execute("SELECT COALESCE(MAX(trial_id), 0) + 1 FROM trials").fetchone()[0]
        )
        rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in COLUMNS}
        for table, values in _copy_rows(optuna_study_id, first_id, first_number, n, seed=1):
            rows[table].append(values)
        for table, columns in COLUMNS.items():
            marks = ", ".join("?" for _ in columns.split(","))
            conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows[table])
        conn.execute("ANALYZE")


def seed(url: str, n_trials: int) -> str:
    """A completed study of ``n_trials`` trials in ``url``; its regtune id."""
    import optuna
    from sqlalchemy import update

    from bench.api_seed import bulk_copy
    from regtune.service.spec.definition import StudySpec, resolve_task
    from regtune.service.store.db import transaction
    from regtune.service.store.migrate import upgrade
    from regtune.service.store.repos.studies import create_study
    from regtune.service.store.scheduling.retries import get_storage
    from regtune.service.store.tables import StudyRow

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    harness.use_database(url)
    upgrade(url)
    spec = StudySpec.model_validate(definition(f"report-{n_trials}", n_trials))
    row = create_study(resolve_task(spec))
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    rng = random.Random(0)
    first = min(OPTUNA_BATCH, n_trials)
    study.add_trials([_frozen(_trial(rng, number)) for number in range(first)])
    if n_trials > first:
        if url.startswith("sqlite"):
            bulk_insert_sqlite(url, study._study_id, first, n_trials - first)
        else:
            bulk_copy(url, study._study_id, first, n_trials - first, seed=1)
    with transaction() as session:
        session.execute(
            update(StudyRow)
            .where(StudyRow.id == row.id)
            .values(status="completed", n_done=n_trials)
        )
    return row.id


def build_times(study_id: str) -> dict[str, Any]:
    """The report's build: first, then the median of ``BUILDS`` more, and the SQL part alone."""
    from regtune.service.api import report
    from regtune.service.spec.definition import StudySpec
    from regtune.service.spec.objective import objective_directions
    from regtune.service.store.reads import read
    from regtune.service.store.repos.studies import get_row
    from regtune.service.store.trials.report import report_data

    row = get_row(study_id)
    started = time.perf_counter()
    html = report.build(row, base_url="http://bench")
    first = time.perf_counter() - started
    builds, reads = [], []
    direction = objective_directions(StudySpec.from_stored(row.spec))[0]
    for _ in range(BUILDS):
        started = time.perf_counter()
        html = report.build(row, base_url="http://bench")
        builds.append(time.perf_counter() - started)
        started = time.perf_counter()
        data = read(
            lambda s: report_data(
                s, row.optuna_study_id or -1, direction=direction, max_points=report.MAX_POINTS
            )
        )
        reads.append(time.perf_counter() - started)
    return {
        "first_build_s": first,
        "build_s": statistics.median(builds),
        "sql_s": statistics.median(reads),
        "page_bytes": len(html.encode()),
        "points": len(data.points) + len(data.band),
        "html": html,
    }


def browser_times(html: str, tmp: Path) -> dict[str, float]:
    """Headless Chromium opening the saved page and drawing every plot: first open, reload."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS

    page_path = tmp / "report.html"
    page_path.write_text(html, encoding="utf-8")
    n = html.count('class="plotly-graph-div"')
    drawn = f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {n}"
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="chromium-", dir=tmp),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
        )
        page = context.new_page()
        times = []
        for load in (lambda: page.goto(page_path.as_uri(), wait_until="load"), page.reload):
            started = time.perf_counter()
            load()
            page.wait_for_function(drawn, timeout=120_000)
            times.append(time.perf_counter() - started)
        context.close()
    return {"browser_first_s": times[0], "browser_reload_s": times[1]}


def dashboard_time(url: str, study_id: str) -> float:
    """optuna-dashboard's ``GET /api/studies/{id}`` in-process (WSGI), one request."""
    import httpx
    from optuna_dashboard import wsgi

    from regtune.service.store.repos.studies import get_row
    from regtune.service.store.scheduling.retries import get_storage

    osid = get_row(study_id).optuna_study_id
    app = wsgi(get_storage())
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://dash") as client:
        started = time.perf_counter()
        answer = client.get(f"/api/studies/{osid}", params={"after": 0}, timeout=600)
        seconds = time.perf_counter() - started
    answer.raise_for_status()
    return seconds


def main() -> None:
    args = harness.parse_args(
        __doc__ or "",
        extra={
            "--sizes": {"default": "10000,100000", "help": "trials per study, comma-separated"},
            "--backend": {"default": "sqlite", "choices": ["sqlite", "postgresql"]},
        },
    )
    sizes = [500] if args.quick else [int(s) for s in args.sizes.split(",")]
    rows, results = [], []
    with tempfile.TemporaryDirectory(prefix="regtune-bench-report-") as scratch:
        tmp = Path(scratch)
        server_cm = harness.postgres() if args.backend == "postgresql" else None
        server = server_cm.__enter__() if server_cm else None
        try:
            for n in sizes:
                url = harness.fresh_database(args.backend, tmp, server, f"report{n}")
                started = time.perf_counter()
                study_id = seed(url, n)
                seeded = time.perf_counter() - started
                result: dict[str, Any] = {"trials": n, "seed_s": seeded, **build_times(study_id)}
                result.update(browser_times(result.pop("html"), tmp))
                result["dashboard_s"] = (
                    dashboard_time(url, study_id) if n <= DASHBOARD_MAX else None
                )
                results.append(result)
                rows.append(
                    [
                        n,
                        result["first_build_s"],
                        result["build_s"],
                        result["sql_s"],
                        result["page_bytes"] / 1e6,
                        result["points"],
                        result["browser_first_s"],
                        result["browser_reload_s"],
                        result["dashboard_s"] if result["dashboard_s"] is not None else "not run",
                    ]
                )
        finally:
            if server_cm:
                server_cm.__exit__(None, None, None)
    markdown = harness.table(
        [
            "trials",
            "first build s",
            "build s (median)",
            "SQL s",
            "page MB",
            "points",
            "Chromium first open s",
            "Chromium reload s",
            "optuna-dashboard /api/studies/{id} s",
        ],
        rows,
    )
    payload = {"quick": args.quick, "backend": args.backend, "results": results}
    harness.publish(args.out, "report", payload, markdown)


if __name__ == "__main__":
    main()
