"""``/metrics`` through an outage of the database: a service without API keys serves it, as it
did before the outage (it answered 503, because the check for keys reads the database once its
cached answer is a few seconds old), while every route that reads the database answers 503;
one that had keys when the database last answered still refuses to guess."""

from __future__ import annotations

import logging

import pytest

from regtune.service.store.repos import keys
from tests.inprocess import Apps
from tests.pg import PostgresServer


def test_metrics_are_served_in_an_outage_where_no_key_was_found_before_it(
    apps: Apps, own_pg: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    api = apps(database_url=own_pg.create_database("metrics"))
    served = api.get("/metrics")
    assert served.status_code == 200 and "regtune_database_up 1.0" in served.text
    assert 'regtune_studies{status="queued"}' in served.text
    own_pg.stop("fast")
    try:
        keys._ANY_KEY.clear()  # the cached "no key" expired: the next request reads again
        assert api.get("/v1/studies").status_code == 503
        served = api.get("/metrics")
        assert served.status_code == 200, served.text
        assert "regtune_database_up 0.0" in served.text, served.text
        assert "regtune_studies{" not in served.text  # the database's families left out
        assert (
            'regtune_http_request_duration_seconds_count{method="GET",route="/v1/studies",status="503"}'
            in (served.text)
        ), served.text

        keys._ANY_KEY.clear()
        keys._LAST_ANY["any"] = True  # a key existed when the database last answered
        caplog.set_level(logging.WARNING, logger="regtune.service.api.access")
        refused = api.get("/metrics")
        assert refused.status_code == 503, refused.text
        said = [r.getMessage() for r in caplog.records if "API key" in r.getMessage()]
        assert said and "(the database is unavailable: " in said[0], said
    finally:
        keys._LAST_ANY.clear()
        own_pg.start()


def test_a_request_refused_before_routing_is_counted_under_its_route(apps: Apps) -> None:
    """A 401 (and the key check's 503 in an outage) was counted as route ``unmatched``."""
    admin = "metrics-admin-key-0123456789abcdef"
    api = apps(admin_key=admin)
    assert api.get("/v1/studies/0123456789abcdef/trials/3").status_code == 401
    assert api.get("/no/such/route").status_code == 401
    text = api.get("/metrics", headers={"Authorization": f"Bearer {admin}"}).text
    counted = 'regtune_http_request_duration_seconds_count{method="GET",route="%s",status="401"}'
    assert counted % "/v1/studies/{study_id}/trials/{number}" in text, text
    assert counted % "unmatched" in text, text
