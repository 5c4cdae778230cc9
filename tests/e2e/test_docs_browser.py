"""``/docs`` in a real headless Chromium that reaches nothing but the API: Swagger UI draws every
operation of the schema, with no console error, and asks no other origin for anything (was: a
blank page, its script and style being on a public CDN). Screenshot: test-artifacts/docs.png."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import BrowserContext, Route, sync_playwright

from tests.e2e.test_dashboard_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

ORIGIN = "http://regtune.test"
"""Where the page thinks the API is: the in-process app answers for it, nothing else answers."""
HOP_HEADERS = {"content-encoding", "content-length", "transfer-encoding"}
"""What the test client has already undone (the body it hands over is decoded)."""


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(Path(tempfile.mkdtemp(prefix="chromium-", dir=tmp_path))),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        yield context
        context.close()


def test_the_docs_page_draws_every_operation_offline(
    api: TestClient, browser: BrowserContext
) -> None:
    asked: list[str] = []

    def answer(route: Route) -> None:
        request = route.request
        asked.append(request.url)
        if not request.url.startswith(f"{ORIGIN}/"):
            route.abort()
            return
        answered = api.request(request.method, request.url.removeprefix(ORIGIN))
        headers = {k: v for k, v in answered.headers.items() if k.lower() not in HOP_HEADERS}
        route.fulfill(status=answered.status_code, headers=headers, body=answered.content)

    browser.route("**/*", answer)
    operations = sum(
        method in {"get", "post", "put", "patch", "delete"}
        for path in api.get("/openapi.json").json()["paths"].values()
        for method in path
    )
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{ORIGIN}/docs", wait_until="load")
    drawn_js = f"document.querySelectorAll('.opblock').length >= {operations}"
    try:
        page.wait_for_function(drawn_js, timeout=30_000)
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "docs.png"), full_page=False)
    assert page.evaluate("document.querySelectorAll('.opblock').length") == operations
    assert problems == []
    assert asked and all(url.startswith(f"{ORIGIN}/") for url in asked), asked
