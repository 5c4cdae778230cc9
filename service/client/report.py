"""The study report as the client fetches it: the API's HTML page, known by the study it names,
so that a page answered in the API's place (a captive portal's, a proxy's, ``200 text/html``
too) is refused rather than returned or saved as the report; written whole to the file asked
for."""

from __future__ import annotations

import html
from pathlib import Path

from regtune.service.client.arguments import study_path
from regtune.service.client.errors import not_a_file, not_expected
from regtune.service.client.saving import saving
from regtune.service.client.transport import Transport, media_type

REPORT_TYPES = ("text/html",)
"""The type the API sends a report as."""


def fetch_report(api: Transport, study_id: str, target: Path | None) -> str:
    """Study ``study_id``'s report, from the API behind ``api``; also written to ``target``, if
    given, replacing it whole (a page open there never reads half of it)."""
    response = api.request("GET", study_path(study_id, "report"))
    if media_type(response) not in REPORT_TYPES:
        raise not_a_file(response, REPORT_TYPES, "the report")
    page = response.text
    if _names(study_id) not in page:
        raise not_expected(
            response, f"a page that does not name study {study_id}, where its report does"
        )
    if target is not None:
        partial = target.with_name(target.name + ".part")
        with saving(target, partial, "the report") as out:
            out.write(page.encode("utf-8"))
        partial.replace(target)
    return page


def _names(study_id: str) -> str:
    """How the report names its study, in its heading's line (``study <code>ID</code> · 3 of 30
    trials done``), as every report the API has made does: a portal's page that echoes the URL
    asked for does not."""
    return f"<code>{html.escape(study_id)}</code>"
