"""optuna-dashboard in headless Chromium shows what the REST API created and the workers ran.

A real API process and real workers run a small study on SQLite and on PostgreSQL; then
``regtune dashboard`` (and, separately, ``regtune serve --dashboard``) serves the same database and
the page must show the study's name, its trial count, the metric name, the trials' user
attributes and the study note with the link back to the API. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, sync_playwright

from regtune.service.store.repos.studies import RECENT_SECONDS
from tests.support import ROOT, Proc, StackFactory, free_port, process_env, regtune, wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"
N_TRIALS = 4


def definition(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "dataset": {"builtin": "diabetes"},
        "model": {"kind": "linear"},
        "search_space": {
            "lambda": {"low": 1e-4, "high": 1.0, "log": True},
            "l1_ratio": {"low": 0.0, "high": 1.0},
        },
        "training": {"max_epochs": 8, "batch_size": 64},
        "validation": {"holdout": 0.2},
        "objective": {"metric": "val_loss"},
        "sampler": {"type": "random", "seed": 0},
        "pruner": {"type": "none"},
        "budget": {"n_trials": N_TRIALS, "max_parallel": 2},
    }


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    """Chromium from the system, headless, with a fresh profile for each test."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(Path(tempfile.mkdtemp(prefix="chromium-", dir=tmp_path))),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
        )
        yield context
        context.close()


def start_dashboard(database_url: str, tmp: Path, **env: str) -> tuple[Proc, str]:
    port = free_port()
    proc = Proc(
        regtune("dashboard", "--host", "127.0.0.1", "--port", str(port)),
        process_env(database_url, **env),
        tmp / f"dashboard-{port}.log",
    )
    url = f"http://127.0.0.1:{port}"
    wait_for(
        lambda: httpx.get(f"{url}/api/studies", timeout=5).status_code == 200,
        timeout=90,
        what="optuna-dashboard to answer",
    )
    return proc, url


def dashboard_study_id(dashboard_url: str, optuna_name: str) -> int:
    summaries = httpx.get(f"{dashboard_url}/api/studies", timeout=10).json()["study_summaries"]
    matches = [s["study_id"] for s in summaries if s["study_name"] == optuna_name]
    assert matches, f"{optuna_name!r} not among the dashboard's studies: {summaries}"
    return int(matches[0])


def page_text(page: Page, url: str, *, expect: str, shot: str) -> str:
    """Open ``url`` and wait until the rendered page shows ``expect``; keep a screenshot."""
    page.goto(url)
    try:
        page.get_by_text(expect, exact=False).first.wait_for(timeout=60_000)
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)
    return page.inner_text("body")


def check_dashboard(
    browser: BrowserContext, dashboard_url: str, api_url: str, study_id: str, label: str
) -> None:
    """The dashboard shows the study as the API reports it. Each API process may answer a study
    from memory up to ``RECENT_SECONDS`` old, so under several processes (``serve``) one that
    has not read the study since it completed may still say so: asked until every one has."""

    def completed() -> dict[str, Any] | None:
        found = httpx.get(f"{api_url}/v1/studies/{study_id}", timeout=30).json()
        return dict(found) if found["status"] == "completed" else None

    study = wait_for(completed, timeout=2 * RECENT_SECONDS + 5, interval=0.1, what="completed")
    n_total = sum(study["counts"].values())
    assert study["progress"]["done"] == N_TRIALS
    sid = dashboard_study_id(dashboard_url, study["optuna_study_name"])

    page = browser.new_page()
    home = page_text(
        page, f"{dashboard_url}/dashboard", expect=study["name"], shot=f"dashboard-{label}-studies"
    )
    assert study["optuna_study_name"] in home

    base = f"{dashboard_url}/dashboard/studies/{sid}"
    history = page_text(page, base, expect="val_loss", shot=f"dashboard-{label}-history")
    assert study["name"] in history

    trials = page_text(
        page, f"{base}/trials", expect=f"{n_total} Trials", shot=f"dashboard-{label}-trials"
    )
    assert f"{n_total} Trials" in trials
    assert trials.count("Complete") >= N_TRIALS, trials
    assert "n_nonzero" in trials and "epochs_run" in trials, trials

    note = page_text(
        page, f"{base}/note", expect=f"/v1/studies/{study_id}", shot=f"dashboard-{label}-note"
    )
    assert f"{api_url}/v1/studies/{study_id}" in note
    assert "search_space" in note
    page.close()


def test_dashboard_shows_what_the_api_created(
    browser: BrowserContext, database_url: str, stack_factory: StackFactory, tmp_path: Path
) -> None:
    backend = database_url.split(":", 1)[0].split("+", 1)[0]
    stack = stack_factory(database_url)
    stack.env["REGTUNE_PUBLIC_URL"] = stack.url
    stack.start_api()
    stack.start_workers(2)
    created = stack.submit(definition(f"browser-{backend}"))
    stack.wait_status(created["id"], timeout=600)

    dashboard, dashboard_url = start_dashboard(database_url, tmp_path)
    try:
        check_dashboard(browser, dashboard_url, stack.url, created["id"], backend)
    finally:
        dashboard.stop()


def test_serve_with_dashboard(browser: BrowserContext, sqlite_url: str, tmp_path: Path) -> None:
    port, dashboard_port = free_port(), free_port()
    api_url = f"http://127.0.0.1:{port}"
    serve = Proc(
        regtune(
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
            "--dashboard",
            "--dashboard-port",
            str(dashboard_port),
        ),
        process_env(sqlite_url, REGTUNE_PUBLIC_URL=api_url),
        tmp_path / "serve.log",
    )
    try:
        wait_for(
            lambda: httpx.get(f"{api_url}/readyz", timeout=2).status_code == 200,
            timeout=120,
            what="serve's API",
        )
        response = httpx.post(f"{api_url}/v1/studies", json=definition("browser-serve"), timeout=30)
        assert response.status_code == 201, response.text
        study_id = response.json()["id"]
        wait_for(
            lambda: (
                httpx.get(f"{api_url}/v1/studies/{study_id}", timeout=10).json()["status"]
                == "completed"
            ),
            timeout=600,
            interval=0.5,
            what="the study to complete under serve",
        )
        dashboard_url = f"http://127.0.0.1:{dashboard_port}"
        wait_for(
            lambda: httpx.get(f"{dashboard_url}/api/studies", timeout=5).status_code == 200,
            timeout=90,
            what="serve's dashboard",
        )
        check_dashboard(browser, dashboard_url, api_url, study_id, "serve")
    finally:
        code = serve.stop(timeout=60)
    assert code == 0, serve.log()
