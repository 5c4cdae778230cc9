"""The report of inputs with long names, drawn in headless Chromium: an input named by 80
characters made the coefficient path's legend take the figure's width (about 60 pixels left to
the plot), its λ tick labels ran into each other and the chosen λs' labels into each other. The
plot keeps most of its figure's width, no two tick labels or λ labels overlap, and the λ
labels stay within the plot (one ran over the y-axis, another over the legend). Screenshot:
test-artifacts/report-long-names.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from playwright.sync_api import BrowserContext

from tests.e2e.test_dashboard_browser import ARTIFACTS
from tests.e2e.test_report_browser import browser
from tests.service.test_report_names import odd_study

__all__ = ["browser"]  # the offline Chromium fixture

BOXES = """() => [...document.querySelectorAll('.plotly-graph-div')].map(d => {
  const box = e => { const r = e.getBoundingClientRect();
                     return [r.left, r.top, r.right, r.bottom]; };
  return {
    title: (d.querySelector('.gtitle') || {}).textContent || '',
    figure: box(d),
    plot: box(d.querySelector('.draglayer .nsewdrag')),
    ticks: [...d.querySelectorAll('.xaxislayer-above .xtick text')].map(box),
    labels: [...d.querySelectorAll('.annotation')].map(box),
  };
})"""


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _overlapping(boxes: list[list[float]]) -> list[tuple[int, int]]:
    return [
        (i, j)
        for i in range(len(boxes))
        for j in range(i + 1, len(boxes))
        if _overlap(boxes[i], boxes[j])
    ]


def test_long_input_names_leave_the_path_its_width_and_labels_apart(
    api: TestClient, browser: BrowserContext, tmp_path: Path
) -> None:
    answer = api.get(f"/v1/studies/{odd_study()}/report")
    assert answer.status_code == 200, answer.text
    saved = tmp_path / "report-long-names.html"
    saved.write_text(answer.text, encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page()
    page.goto(saved.as_uri(), wait_until="load")
    expected = answer.text.count('class="plotly-graph-div"')
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {expected}",
        timeout=30_000,
    )
    try:
        figures: list[dict[str, Any]] = page.evaluate(BOXES)
    finally:
        page.screenshot(path=str(ARTIFACTS / "report-long-names.png"), full_page=True)
    page.close()

    by_title = {f["title"]: f for f in figures}
    path = next(f for title, f in by_title.items() if title.startswith("Coefficient path"))
    width = path["figure"][2] - path["figure"][0]
    plot = path["plot"][2] - path["plot"][0]
    assert plot > width / 2, (plot, width)  # was about 60 of 600 pixels
    for figure in (path, *(f for t, f in by_title.items() if t.startswith("Validation curve"))):
        assert figure["labels"], figure["title"]
        assert _overlapping(figure["ticks"]) == [], figure["title"]
        assert _overlapping(figure["labels"]) == [], figure["title"]
        left, right = figure["plot"][0], figure["plot"][2]
        inside = [box[0] >= left - 1 and box[2] <= right + 1 for box in figure["labels"]]
        assert all(inside), (figure["title"], figure["plot"], figure["labels"])
