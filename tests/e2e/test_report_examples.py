"""Every shipped example, run on a tiny budget by a worker in this process, gets a report that
draws in headless Chromium with no console error; a linear study's path marks the best model's
λ and its coefficients come from the saved model. Screenshots: test-artifacts/report-<example>.png.
"""

from __future__ import annotations

import contextvars
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from playwright.sync_api import BrowserContext

from tests.e2e.test_dashboard_browser import ARTIFACTS
from tests.e2e.test_report_browser import browser
from tests.inprocess import Apps
from tests.support import ROOT

__all__ = ["browser"]  # the offline Chromium fixture
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
N_TRIALS = 8


def tiny(path: Path) -> dict[str, Any]:
    definition: dict[str, Any] = yaml.safe_load(path.read_text())
    definition["budget"].update(n_trials=N_TRIALS, max_parallel=2)
    if "max_epochs" in definition.get("training", {}):
        definition["training"]["max_epochs"] = 6
    return definition


def run_to_the_end(api: TestClient, study_id: str, *, timeout: float = 600) -> dict[str, Any]:
    """A worker in this process (in a context of its own) until the study has ended and its
    best model is saved."""
    from regtune.worker.loop import Worker

    worker = Worker()
    thread = threading.Thread(target=contextvars.copy_context().run, args=(worker.run,))
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            study: dict[str, Any] = api.get(f"/v1/studies/{study_id}").json()
            ended = study["status"] not in ("queued", "running")
            if ended and (study["best_model"] is not None or study["status"] != "completed"):
                return study
            time.sleep(0.5)
        raise AssertionError(f"study {study_id} did not end in {timeout} s: {study}")
    finally:
        worker.stopping.set()
        thread.join(timeout=60)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_each_example_gets_a_report_that_draws(
    apps: Apps, browser: BrowserContext, tmp_path: Path, path: Path
) -> None:
    api = apps(artifact_dir=tmp_path / "artifacts")
    created = api.post("/v1/studies", json=tiny(path))
    assert created.status_code == 201, created.text
    study = run_to_the_end(api, created.json()["id"])
    assert study["status"] == "completed", study

    html = api.get(study["report_url"]).text
    saved = tmp_path / f"report-{path.stem}.html"
    saved.write_text(html, encoding="utf-8")
    expected = html.count('class="plotly-graph-div"')
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(saved.as_uri(), wait_until="load")
    try:
        page.wait_for_function(
            f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {expected}",
            timeout=30_000,
        )
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"report-{path.stem}.png"), full_page=True)
    assert problems == []
    assert expected >= 5, f"only {expected} plots"

    definition = study["definition"]
    if definition["validation"].get("folds"):  # the validation curve's error bars are the folds'
        assert "across folds" in html
    if definition["model"]["kind"] == "linear":
        best = study["best_trial"]
        assert study["best_model"]["trial"] == best["number"]
        marks = page.evaluate(
            "() => [...document.querySelectorAll('.annotation-text')].map(a => a.textContent)"
        )
        assert f"best λ={best['params']['lambda']:.3g}" in marks, marks
        refit_lambda = study["best_model"].get("refit_lambda")  # the saved model's, if raised
        if refit_lambda is not None:
            assert f"saved model λ={refit_lambda:.3g}" in marks, marks
        assert "Best model: non-zero coefficients" in page.inner_text("body")
    page.close()
