"""A server that answers every request ``200 text/html`` with its own page (a captive portal, a
proxy's login) is not taken for the API by the requests whose answer has no JSON to check:
a deletion (the API answers ``204 No Content``) and the report (the API's page names its
study). They were: ``delete``, ``delete_dataset`` and ``revoke_key`` returned as if done, and
``report`` returned the portal's page and wrote it as the report."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import regtune
from tests.service.test_client_optuna import STUDY, ThroughApp


class Portal(BaseHTTPRequestHandler):
    """A captive portal: every request answered with its login page, which names the URL asked
    for (as a portal's link back to it does)."""

    def answer(self) -> None:
        page = f'<html><a href="/login?to={self.path}">login</a> to reach {self.path}</html>'
        body = page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_DELETE = do_POST = answer

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def portal() -> Iterator[str]:
    """The URL of a captive portal on a free port of this machine, in a thread of this test."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Portal)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize(
    ("request_", "path"),
    [
        (lambda rt: rt.delete("s1"), "/v1/studies/s1"),
        (lambda rt: rt.delete_dataset("d1"), "/v1/datasets/d1"),
        (lambda rt: rt.revoke_key("k1"), "/v1/keys/k1"),
    ],
)
def test_a_portals_page_is_no_deletion(
    portal: str, request_: Callable[[regtune.Client], None], path: str
) -> None:
    with regtune.Client(portal) as rt, pytest.raises(regtune.UnexpectedAnswer) as refused:
        request_(rt)
    assert str(refused.value) == (
        f"DELETE {path}: the answer is not what this client expects (200 text/html, where the "
        "API answers 204 No Content); is 127.0.0.1 a regtune API of the same version?"
    )


def test_a_portals_page_is_no_report(portal: str, tmp_path: Path) -> None:
    saved = tmp_path / "report.html"
    saved.write_text("the report saved before")
    with regtune.Client(portal) as rt:
        for path in (None, saved):
            with pytest.raises(regtune.UnexpectedAnswer) as refused:
                rt.report("s1", path)
            assert str(refused.value) == (
                "GET /v1/studies/s1/report: the answer is not what this client expects (a page "
                "that does not name study s1, where its report does); is 127.0.0.1 a regtune "
                "API of the same version?"
            )
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    assert saved.read_text() == "the report saved before"


def test_the_apis_report_and_deletion_are_taken(api: TestClient, tmp_path: Path) -> None:
    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as rt:
        study = rt.submit(STUDY)
        page = rt.report(study.id, tmp_path / "report.html")
        assert (tmp_path / "report.html").read_text() == page
        assert f"<code>{study.id}</code>" in page
        rt.delete(study.id)
        with pytest.raises(regtune.ApiError) as gone:
            rt.study(study.id)
    assert gone.value.status == 404
