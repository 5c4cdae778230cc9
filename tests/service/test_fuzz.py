"""Schemathesis against the API's own OpenAPI schema, in-process, every operation, with a valid
key: no 5xx, and every response (status, headers, body) as the schema says."""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.inprocess import Apps

ADMIN = "fuzz-admin-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
MAX_EXAMPLES = int(os.environ.get("REGTUNE_FUZZ_EXAMPLES", "30"))
"""Per operation and phase; bounded so the whole module runs in a few minutes on a busy box.
Explore further with REGTUNE_FUZZ_EXAMPLES=500 REGTUNE_FUZZ_RANDOM=1."""
PHASES = os.environ.get("REGTUNE_FUZZ_PHASES")
"""Comma-separated schemathesis phases; all by default. ``make test-fast`` leaves out
``coverage``, whose boundary values of every field of a definition are thousands of POSTs."""
SEMANTIC_BODIES = {("POST", "/v1/studies"), ("POST", "/v1/datasets")}
"""Bodies whose validity the schema cannot fully say (a CSV's contents; cross-field rules of a
definition): a schema-valid body may rightly get 422 there. Every other check still applies."""


@pytest.fixture
def fuzzed_api(apps: Apps) -> TestClient:
    api = apps(admin_key=ADMIN, max_trials_per_study=1000)
    rows = "".join(f"{i % 5},{i % 3},{i}\n" for i in range(40))
    uploaded = api.post(
        "/v1/datasets",
        files={"file": ("seed.csv", "a,b,y\n" + rows)},
        data={"target": "y"},
        headers=AUTH,
    )
    assert uploaded.status_code == 201, uploaded.text
    CURRENT.app = api.app
    return api


class Current:
    """The fuzzed test's app, its lifespan already run by the fixture's client (schemathesis
    would start a second one and keep it for the rest of the process)."""

    app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            assert self.app is not None, "no fuzzed_api"
            await self.app(scope, receive, send)
            return
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})


CURRENT = Current()


def _schema() -> Any:
    """The schema the API process serves (``test_the_fuzzed_schema_is_the_served_one``)."""
    from regtune.service.api.app import create_app

    loaded = schemathesis.openapi.from_dict(create_app().openapi())
    loaded.app = CURRENT
    loaded.config.update(headers=AUTH, request_timeout=120)
    loaded.config.generation.update(max_examples=MAX_EXAMPLES)
    if PHASES:
        loaded.config.phases.update(phases=PHASES.split(","))
    return loaded


schema = _schema()


def test_the_fuzzed_schema_is_the_served_one(fuzzed_api: TestClient) -> None:
    served = fuzzed_api.get("/openapi.json").json()
    assert served == schema.raw_schema


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=not os.environ.get("REGTUNE_FUZZ_RANDOM"),
    database=None,
)
def test_no_5xx_and_responses_match_the_schema(case: Any, fuzzed_api: TestClient) -> None:
    excluded = []
    if (case.method, case.path) in SEMANTIC_BODIES:
        excluded.append(positive_data_acceptance)
    case.call_and_validate(headers=AUTH, excluded_checks=excluded)
