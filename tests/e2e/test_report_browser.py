"""The study report in a real headless Chromium: the page, saved as ``regtune report -o`` saves
it, opens offline with no console error, every plot draws, and the coefficient path marks the
best model's λ. Screenshots go to test-artifacts/ (report-linear.png, report-mlp.png)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import BrowserContext, sync_playwright

from tests.e2e.test_dashboard_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.service.test_report import api, finished_study

__all__ = ["api"]  # the in-process app fixture, shared with the fast tests


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    """Chromium from the system, headless, with every network request refused."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(Path(tempfile.mkdtemp(prefix="chromium-", dir=tmp_path))),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        context.route("http*://**", lambda route: route.abort())
        yield context
        context.close()


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_the_report_draws_offline_with_no_console_error(
    api: TestClient, browser: BrowserContext, tmp_path: Path, kind: str
) -> None:
    row = finished_study("default", n=200, kind=kind)
    answer = api.get(f"/v1/studies/{row.id}/report")
    assert answer.status_code == 200, answer.text
    saved = tmp_path / f"report-{kind}.html"
    saved.write_text(answer.text, encoding="utf-8")
    expected = answer.text.count('class="plotly-graph-div"')
    ARTIFACTS.mkdir(exist_ok=True)

    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    drawn_js = f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {expected}"
    for load in (lambda: page.goto(saved.as_uri(), wait_until="load"), page.reload):
        load()  # how long a draw takes is bench.report's to measure
        page.wait_for_function(drawn_js, timeout=30_000)
    try:
        drawn = page.evaluate(
            """() => [...document.querySelectorAll('.plotly-graph-div')].map(d => ({
                 svg: d.querySelectorAll('.main-svg').length,
                 marks: d.querySelectorAll('.point, .trace path, .bars path, .contour').length,
                 title: (d.querySelector('.gtitle') || {}).textContent || ''}))"""
        )
    finally:
        page.screenshot(path=str(ARTIFACTS / f"report-{kind}.png"), full_page=True)
    assert problems == []
    assert len(drawn) == expected == (8 if kind == "linear" else 7), drawn
    assert all(d["svg"] > 0 and d["marks"] > 0 for d in drawn), drawn

    best = api.get(f"/v1/studies/{row.id}").json()["best_trial"]
    marks = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('.plotly-graph-div')].map(d => [
             (d.querySelector('.gtitle') || {}).textContent || '',
             [...d.querySelectorAll('.annotation-text')].map(a => a.textContent)]))"""
    )
    path = [title for title in marks if title.startswith("Coefficient path")]
    if kind == "linear":  # the path drawn from the trials' weights marks the best model's λ
        assert len(path) == 1, list(marks)
        assert f"best λ={best['params']['lambda']:.3g}" in marks[path[0]], json.dumps(marks)
        lines = page.evaluate(
            """() => [...document.querySelectorAll('.plotly-graph-div')]
                 .find(d => (d.querySelector('.gtitle') || {}).textContent
                   .startsWith('Coefficient path'))
                 .querySelectorAll('.scatterlayer .trace .js-line').length"""
        )
        assert lines == 6, lines  # one line per input
    else:
        assert path == [], list(marks)  # an MLP stores no weights per input
    assert any(f"best λ={best['params']['lambda']:.3g}" in m for m in marks.values())
    page.close()
