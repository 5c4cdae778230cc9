"""A study's report is the same bytes at every build until the study changes: its plots' ``<div>``
ids came from a count kept by the process, so each build differed from the last (``HEAD``'s
Content-Length 1528875, the ``GET`` after it 1528879), and the page said when it was built to the
second."""

from __future__ import annotations

import re
from datetime import datetime

from fastapi.testclient import TestClient
from sqlalchemy import update

from regtune.service.store.db import transaction
from regtune.service.store.tables import StudyRow
from tests.service.test_report import finished_study

ENDED = datetime(2026, 12, 7, 9, 30, 5)


def _report(study_id: str) -> str:
    return f"/v1/studies/{study_id}/report"


def _end(study_id: str) -> None:
    with transaction() as session:
        session.execute(update(StudyRow).where(StudyRow.id == study_id).values(finished_at=ENDED))


def test_head_says_the_length_of_the_get_and_two_gets_are_the_same_bytes(api: TestClient) -> None:
    row, other = finished_study("default", n=20), finished_study("default", n=5)
    _end(row.id)
    first = api.get(_report(row.id))
    assert first.status_code == 200, first.text
    assert api.get(_report(other.id)).status_code == 200  # another page built in between
    head = api.head(_report(row.id))
    second = api.get(_report(row.id))

    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(first.content) == len(second.content)
    assert second.content == first.content
    ids = re.findall(r'<div id="([^"]+)" class="plotly-graph-div"', first.text)
    assert ids == [f"regtune-plot-{number}" for number in range(8)]  # numbered on their page
    assert " · ended 2026-12-07 09:30:05 UTC</p>" in first.text
    assert " · built " not in first.text


def test_a_page_that_reloads_itself_says_when_it_was_built(api: TestClient) -> None:
    row = finished_study("default", n=5)
    with transaction() as session:
        session.execute(update(StudyRow).where(StudyRow.id == row.id).values(status="running"))
    html = api.get(_report(row.id)).text
    assert re.search(r" · built \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC · <span id=\"live\">", html)
    assert " · ended " not in html
