"""``/docs`` is whole without the internet: every URL its page loads is the API's own and answers
without a key when keys are on (was: Swagger UI's script and style from a public CDN and a
favicon from FastAPI's site, so on a cluster without internet access the page was blank)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

from fastapi.testclient import TestClient

from tests.inprocess import Apps

ADMIN = "docs-admin-key-0123456789abcdef"
WANTED_TYPES = {
    "script": {"text/javascript", "application/javascript"},
    "stylesheet": {"text/css"},
    "icon": {"image/png"},
}


class Loads(HTMLParser):
    """The URLs a page loads, by what it loads them as (script, stylesheet, icon)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        given = dict(attrs)
        if tag == "script" and given.get("src"):
            self.urls.append(("script", given["src"] or ""))
        elif tag == "link" and given.get("href"):
            rel = (given.get("rel") or "").split()  # "shortcut icon"
            self.urls.append((rel[-1] if rel else "", given["href"] or ""))


def loads(page: str) -> list[tuple[str, str]]:
    parser = Loads()
    parser.feed(page)
    return parser.urls


def test_the_docs_page_loads_only_the_apis_own_assets_without_a_key(apps: Apps) -> None:
    keyed = apps(admin_key=ADMIN)
    page = keyed.get("/docs")
    assert page.status_code == 200, page.text
    assert not re.findall(r"https?://[^\s\"'<>]+", page.text), "a URL of another origin"
    assets = loads(page.text)
    assert {kind for kind, _ in assets} == set(WANTED_TYPES), assets
    for kind, url in assets:
        assert url.startswith("/") and not urlsplit(url).netloc, url
        asset = keyed.get(url)
        assert asset.status_code == 200, (url, asset.status_code)
        assert asset.headers["content-type"].split(";")[0] in WANTED_TYPES[kind], url
        assert asset.content, url
    schema = re.search(r"url: '([^']+)'", page.text)
    assert schema and schema.group(1) == "/openapi.json"
    assert keyed.get(schema.group(1)).status_code == 200
    assert keyed.get("/docs/oauth2-redirect").status_code == 200
    assert keyed.get("/v1/studies").status_code == 401  # keys are on


def test_the_docs_page_names_its_assets_under_the_root_path(apps: Apps) -> None:
    """Behind a proxy that mounts the API under a prefix, the page asks for its assets there,
    as FastAPI asks for the schema."""
    prefixed = TestClient(apps().app, root_path="/regtune")
    page = prefixed.get("/docs").text
    urls = [url for _, url in loads(page)] + re.findall(r"url: '([^']+)'", page)
    assert urls and all(url.startswith("/regtune/") for url in urls), urls
