"""The study report on big studies: how long the API takes to build it, what it ships, how long
a browser takes to draw it, beside optuna-dashboard's study request on the same database.

A finished study of 10,000 (and 100,000) trials is written straight into the database, row for
row what Optuna's ``add_trials`` writes (``bench.api_seed``: 70 % COMPLETE, 30 % PRUNED, 4
parameters, curves of up to 10 epochs, 8 user attributes): on SQLite with ``executemany``, on
PostgreSQL with ``COPY``. For each size: ``regtune api`` started on the database as a user
starts it (one process), its time to ready (it imports the report's modules and builds the
latest study's report before it serves) and the first report request after it is ready, as the
client waits for it, with the CPU seconds the API spends on it; the report's build time in this
process (the median of builds after a first one, split into the SQL reads and the rest), the
page's size and the points it carries; the time headless Chromium takes to open the page and
draw every plot (first open of a fresh profile, then a reload, and Chromium's own CPU seconds for
each, which a busy machine changes less than the wall clock); and, in the same run,
optuna-dashboard's ``GET /api/studies/{id}`` (what its study page fetches before it draws
anything), served by ``regtune dashboard``: one request, given up after ``--dashboard-timeout``
seconds.

Every trial also carries the weights a linear trial records (``regtune:coefficients``), so the
report draws its coefficient path from them as it would for a real study.

    python -m bench.report [--quick] [--sizes 10000,100000] [--backend sqlite|postgresql]
        [--dashboard-timeout 300]
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import harness
from bench.api_seed import COLUMNS, OPTUNA_BATCH, _copy_rows, _frozen, _trial, definition

BUILDS = 5
"""Report builds timed per size after the first (2 with ``--quick``)."""
QUICK_TRIALS = 100
"""The one study size of ``--quick``."""
QUICK_OPTUNA_TRIALS = 20
"""Of those, written through Optuna's ``add_trials`` (25 ms each on SQLite); the rest copied."""
INPUTS = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")
UNPENALIZED = (0.05, -0.3, 1.0, 0.5, 0.02, 0.15, -0.4, 0.1, 0.7, 0.03)
"""Each input's weight at λ = 0; a trial's are shrunk lasso-like by its λ and l1_ratio."""


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


def seed(url: str, n_trials: int, optuna_trials: int = OPTUNA_BATCH) -> str:
    """A completed study of ``n_trials`` trials in ``url`` (the first ``optuna_trials`` written
    through Optuna, the rest copied); its regtune id."""
    import optuna
    from sqlalchemy import update

    from bench.api_seed import bulk_copy
    from regtune.service.spec.definition import StudySpec
    from regtune.service.spec.resolve import resolve_task
    from regtune.service.store.db import transaction
    from regtune.service.store.migrate import upgrade
    from regtune.service.store.repos.study_creation import create_study
    from regtune.service.store.scheduling.retries import get_storage
    from regtune.service.store.tables import StudyRow

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    harness.use_database(url)
    upgrade(url)
    spec = StudySpec.model_validate(definition(f"report-{n_trials}", n_trials))
    row = create_study(resolve_task(spec))
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    rng = random.Random(0)
    first = min(optuna_trials, n_trials)
    study.add_trials([_frozen(_trial(rng, number)) for number in range(first)])
    if n_trials > first:
        if url.startswith("sqlite"):
            bulk_insert_sqlite(url, study._study_id, first, n_trials - first)
        else:
            bulk_copy(url, study._study_id, first, n_trials - first, seed=1)
    add_coefficients(url, study._study_id)
    with transaction() as session:
        session.execute(
            update(StudyRow)
            .where(StudyRow.id == row.id)
            .values(status="completed", n_done=n_trials)
        )
    return row.id


def add_coefficients(url: str, optuna_study_id: int) -> None:
    """Every trial's ``regtune:coefficients`` attribute, one row each, in one transaction."""
    import json
    import math

    from sqlalchemy import and_, insert, select
    from sqlalchemy.orm import aliased

    from regtune.service.store.db import make_engine
    from regtune.service.store.optuna_db.attrs import COEFFICIENTS_ATTR
    from regtune.service.store.optuna_db.internals.handles import om
    from regtune.service.store.trials.coefficients import encode

    trial = om.TrialModel
    lam, l1 = aliased(om.TrialParamModel), aliased(om.TrialParamModel)
    engine = make_engine(url)
    with engine.begin() as conn:
        rows = conn.execute(
            select(trial.trial_id, lam.param_value, l1.param_value)
            .join(lam, and_(lam.trial_id == trial.trial_id, lam.param_name == "lambda"))
            .join(l1, and_(l1.trial_id == trial.trial_id, l1.param_name == "l1_ratio"))
            .where(trial.study_id == optuna_study_id)
        ).all()
        values = []
        for trial_id, lam_value, ratio in rows:
            cut = lam_value * ratio
            weights = [
                math.copysign(max(0.0, abs(w) - cut), w) / (1 + lam_value * (1 - ratio))
                for w in UNPENALIZED
            ]
            values.append(
                {
                    "trial_id": trial_id,
                    "key": COEFFICIENTS_ATTR,
                    "value_json": json.dumps(encode(INPUTS, weights)),
                }
            )
        conn.execute(insert(om.TrialSystemAttributeModel.__table__), values)
    engine.dispose()


def first_request(url: str, study_id: str, tmp: Path) -> dict[str, float]:
    """``regtune api`` (one process) started on the database: seconds until it reports ready,
    then the first report request's, as its client waits for it, and the CPU seconds the API
    spent on it."""
    import httpx

    started = time.perf_counter()
    with harness.Service(url, tmp) as service:
        service.start_api("--workers", "1")
        ready = time.perf_counter() - started
        api = service.procs[0].pid
        used, started = harness.cpu_seconds(api), time.perf_counter()
        reply = httpx.get(f"{service.url}/v1/studies/{study_id}/report", timeout=120)
        first = time.perf_counter() - started
        cpu = harness.cpu_seconds(api) - used
    reply.raise_for_status()
    return {"api_ready_s": ready, "first_build_s": first, "first_build_cpu_s": cpu}


def build_times(study_id: str, timed: int = BUILDS) -> dict[str, Any]:
    """The report built in this process: the median of ``timed`` builds after a first one, and
    the SQL part alone."""
    from regtune.service.api import report
    from regtune.service.spec.definition import StudySpec
    from regtune.service.spec.objective import objective_directions
    from regtune.service.store.reads import read
    from regtune.service.store.repos.studies import get_row
    from regtune.service.store.trials.report import report_data

    row = get_row(study_id)
    html = report.build(row, base_url="http://bench")
    builds, cpu, reads = [], [], []
    direction = objective_directions(StudySpec.from_stored(row.spec))[0]
    for _ in range(timed):
        started, used = time.perf_counter(), time.process_time()
        html = report.build(row, base_url="http://bench")
        builds.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)
        started = time.perf_counter()
        data = read(
            lambda s: report_data(
                s, row.optuna_study_id or -1, direction=direction, max_points=report.MAX_POINTS
            )
        )
        reads.append(time.perf_counter() - started)
    return {
        "build_s": statistics.median(builds),
        "build_cpu_s": statistics.median(cpu),
        "sql_s": statistics.median(reads),
        "page_bytes": len(html.encode()),
        "points": len(data.points) + len(data.band),
        "html": html,
    }


def _children_cpu_s() -> float:
    """CPU seconds (user + system) of every process below this one: Chromium's, here."""
    ticks: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    mine, grown = {os.getpid()}, True
    while grown:
        found = {pid for pid, (parent, _) in ticks.items() if parent in mine} - mine
        mine |= found
        grown = bool(found)
    mine.discard(os.getpid())
    return sum(ticks[pid][1] for pid in mine if pid in ticks) / os.sysconf("SC_CLK_TCK")


def browser_times(html: str, tmp: Path) -> dict[str, float]:
    """Headless Chromium opening the saved page and drawing every plot: first open, reload;
    wall seconds and Chromium's CPU seconds."""
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
        page.goto("about:blank")
        times, cpu = [], []
        for load in (lambda: page.goto(page_path.as_uri(), wait_until="load"), page.reload):
            started, used = time.perf_counter(), _children_cpu_s()
            load()
            page.wait_for_function(drawn, timeout=120_000)
            times.append(time.perf_counter() - started)
            cpu.append(_children_cpu_s() - used)
        context.close()
    return {
        "browser_first_s": times[0],
        "browser_reload_s": times[1],
        "browser_first_cpu_s": cpu[0],
        "browser_reload_cpu_s": cpu[1],
    }


def dashboard_time(url: str, study_id: str, tmp: Path, *, timeout: float) -> float | None:
    """optuna-dashboard's study request (``regtune dashboard``, the page's first data request)
    on the same database, or None if it took longer than ``timeout`` seconds (it reads every
    trial: minutes at 100,000)."""
    import httpx

    from regtune.service.store.repos.studies import get_row

    osid = get_row(study_id).optuna_study_id
    with (
        harness.dashboard(url, tmp) as (base, _),
        httpx.Client(base_url=base, timeout=timeout) as client,
    ):
        started = time.perf_counter()
        try:
            reply = client.get(f"/api/studies/{osid}", params={"after": 0})
        except httpx.TimeoutException:
            return None
        seconds = time.perf_counter() - started
    reply.raise_for_status()
    return seconds


def main(argv: list[str] | None = None) -> None:
    args = harness.parse_args(
        __doc__ or "",
        argv,
        extra={
            "--sizes": {"default": "10000,100000", "help": "trials per study, comma-separated"},
            "--backend": {"default": "sqlite", "choices": ["sqlite", "postgresql"]},
            "--dashboard-timeout": {
                "type": float,
                "default": 300.0,
                "help": "seconds optuna-dashboard's study request may take before it is stopped",
            },
        },
    )
    sizes = [QUICK_TRIALS] if args.quick else [int(s) for s in args.sizes.split(",")]
    timed = 2 if args.quick else BUILDS
    rows, results = [], []
    with tempfile.TemporaryDirectory(prefix="regtune-bench-report-") as scratch:
        tmp = Path(scratch)
        server_cm = harness.postgres() if args.backend == "postgresql" else None
        server = server_cm.__enter__() if server_cm else None
        try:
            for n in sizes:
                url = harness.fresh_database(args.backend, tmp, server, f"report{n}")
                started = time.perf_counter()
                study_id = seed(url, n, QUICK_OPTUNA_TRIALS if args.quick else OPTUNA_BATCH)
                seeded = time.perf_counter() - started
                result: dict[str, Any] = {"trials": n, "seed_s": seeded}
                result.update(first_request(url, study_id, tmp))
                result.update(build_times(study_id, timed))
                result.update(browser_times(result.pop("html"), tmp))
                result["dashboard_s"] = dashboard_time(
                    url, study_id, tmp, timeout=args.dashboard_timeout
                )
                results.append(result)
                dashboard = result["dashboard_s"]
                rows.append(
                    [
                        n,
                        result["api_ready_s"],
                        f"{result['first_build_s']:.2f} ({result['first_build_cpu_s']:.2f})",
                        result["build_s"],
                        result["build_cpu_s"],
                        result["sql_s"],
                        result["page_bytes"] / 1e6,
                        result["points"],
                        f"{result['browser_first_s']:.2f} ({result['browser_first_cpu_s']:.2f})",
                        f"{result['browser_reload_s']:.2f} ({result['browser_reload_cpu_s']:.2f})",
                        dashboard if dashboard is not None else f"> {args.dashboard_timeout:g}",
                    ]
                )
        finally:
            if server_cm:
                server_cm.__exit__(None, None, None)
    markdown = harness.table(
        [
            "trials",
            "API start to ready s",
            "first request s (API CPU s)",
            "build s (median)",
            "build CPU s",
            "SQL s",
            "page MB",
            "points",
            "Chromium first open s (CPU s)",
            "Chromium reload s (CPU s)",
            "optuna-dashboard /api/studies/{id} s",
        ],
        rows,
    )
    payload = {"quick": args.quick, "backend": args.backend, "results": results}
    harness.publish(args.out, "report", payload, markdown)


if __name__ == "__main__":
    main()
