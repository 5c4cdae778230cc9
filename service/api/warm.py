"""What an API process does before it serves, so that its first requests cost what later ones do.

A fresh process pays, on its first requests, for what it has not read or run yet: each study's
trial index and body, every trial's tallies for /metrics, the report's modules, and the first
call of each route (FastAPI prepares a router's routes on their first match and inspects an
endpoint on its first call; SQLAlchemy compiles and psycopg prepares each statement on first
use). Under load those first requests queue everything behind them: a restarted API answered
its first tenth of a second 100 ms late. All of it is paid here, before the process serves.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter

import httpx
from fastapi import FastAPI
from starlette.routing import NoMatchFound

from regtune.service.api import observability, render, report
from regtune.service.settings import get_settings
from regtune.service.store.repos.keys import DEFAULT_TENANT
from regtune.service.store.tables import StudyRow

log = logging.getLogger(__name__)

READ_AHEAD_SECONDS = 30.0
"""Reading ahead stops after this long (many large studies): the rest are read when first asked
for, as any study evicted since."""
REHEARSAL_AGENT = "regtune-warm-up"
"""The User-Agent of the requests a process sends itself before it serves."""


def prepare_routes(app: FastAPI) -> None:
    """Have FastAPI prepare every route now, not on each router's first match (its parameter
    and response adapters, about 20 ms a router, on the event loop). Asking for a URL no route
    has walks every router and prepares each on the way."""
    with contextlib.suppress(NoMatchFound):
        app.url_path_for("regtune: no such route")


def read_ahead() -> StudyRow | None:
    """Read the recently updated studies as a GET would (trial index, best trial, body), every
    trial as /metrics does, build the latest study's report, and render the studies' trials as
    their pages show them (as many as the process keeps); the study to rehearse on."""
    from regtune.service.store.repos.studies import recently_updated
    from regtune.service.store.trials.index import MAX_STUDIES

    started = time.perf_counter()
    read = 0
    try:
        rows = recently_updated(MAX_STUDIES)
        for row in rows:
            if time.perf_counter() - started > READ_AHEAD_SECONDS:
                break
            render.study_body(row)
            read += 1
        if time.perf_counter() - started <= READ_AHEAD_SECONDS:
            list(observability.registry().collect())  # /metrics' tallies of every trial
        if rows and time.perf_counter() - started <= READ_AHEAD_SECONDS:
            report.warm(rows[0])
            log.info("built the report of study %s ahead", rows[0].id)
        rendered = sum(
            render.render_ahead(row, deadline=started + READ_AHEAD_SECONDS) for row in rows
        )
    except Exception as exc:  # serving unwarmed beats not serving
        log.warning("could not read the studies ahead: %s", type(exc).__name__)
        return None
    log.info(
        "read %d studies and rendered %d trials ahead in %.1f s",
        read,
        rendered,
        time.perf_counter() - started,
    )
    own = [row for row in rows if row.tenant == DEFAULT_TENANT]
    return next(iter(own or rows), None)


def rehearsal_paths(study: StudyRow | None) -> list[str]:
    """The reads clients repeat: a study, pages of its trials (all, by state), one trial, the
    study list."""
    paths = ["/v1/studies", "/v1/studies?status=completed"]
    if study is not None:
        base = f"/v1/studies/{study.id}"
        paths += [base, f"{base}/trials?limit=50", f"{base}/trials?state=COMPLETE&limit=50"]
        paths.append(f"{base}/trials/0")
    return paths


async def rehearse(app: FastAPI, study: StudyRow | None) -> dict[str, int]:
    """Send this process the reads clients repeat, once each, in-process (no socket), as the
    admin when an admin key is set (without one, on an API with keys, they are refused: the
    routes behind authentication stay unrehearsed). Each is served as a client's would be, but
    neither logged as an access nor counted in /metrics (``observability.unrecorded``): no
    client sent it; one line says what was rehearsed. The status of each path."""
    headers = {"User-Agent": REHEARSAL_AGENT}
    admin_key = get_settings().admin_key
    if admin_key is not None:
        headers["Authorization"] = f"Bearer {admin_key.get_secret_value()}"
    statuses: dict[str, int] = {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://regtune", headers=headers
    ) as client:
        with observability.unrecorded():
            for path in rehearsal_paths(study):
                try:
                    statuses[path] = (await client.get(path)).status_code
                except Exception as exc:  # serving unrehearsed beats not serving
                    log.warning("rehearsing %s failed: %s", path, type(exc).__name__)
    answered = ", ".join(f"{n} {code}" for code, n in sorted(Counter(statuses.values()).items()))
    log.info("rehearsed %d reads before serving (%s)", len(statuses), answered or "none")
    return statuses
