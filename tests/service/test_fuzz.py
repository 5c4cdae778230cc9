"""Schemathesis against the running API's own OpenAPI schema, every operation, with a valid key:
no 5xx, and every response (status, headers, body) as the schema says."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from tests.support import Stack

ADMIN = "fuzz-admin-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
MAX_EXAMPLES = int(os.environ.get("REGTUNE_FUZZ_EXAMPLES", "30"))
"""Per operation and phase; bounded so the whole module runs in a few minutes on a busy box.
Explore further with REGTUNE_FUZZ_EXAMPLES=500 REGTUNE_FUZZ_RANDOM=1."""
SEMANTIC_BODIES = {("POST", "/v1/studies"), ("POST", "/v1/datasets")}
"""Bodies whose validity the schema cannot fully say (a CSV's contents; cross-field rules of a
definition): a schema-valid body may rightly get 422 there. Every other check still applies."""


@pytest.fixture(scope="module")
def fuzzed_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("fuzz")
    stack = Stack(
        f"sqlite:///{tmp / 'regtune.db'}",
        tmp,
        REGTUNE_ADMIN_KEY=ADMIN,
        REGTUNE_MAX_TRIALS_PER_STUDY="1000",
    )
    stack.start_api()
    with httpx.Client(base_url=stack.url, headers=AUTH, timeout=60) as http:
        rows = "".join(f"{i % 5},{i % 3},{i}\n" for i in range(40))
        uploaded = http.post(
            "/v1/datasets", files={"file": ("seed.csv", "a,b,y\n" + rows)}, data={"target": "y"}
        )
        assert uploaded.status_code == 201, uploaded.text
    yield stack
    stack.stop()


def _schema() -> Any:
    """The schema the API process serves (``test_the_fuzzed_schema_is_the_served_one``)."""
    from service.api.app import create_app

    loaded = schemathesis.openapi.from_dict(create_app().openapi())
    loaded.config.update(headers=AUTH, request_timeout=120)
    loaded.config.generation.update(max_examples=MAX_EXAMPLES)
    return loaded


schema = _schema()


def test_the_fuzzed_schema_is_the_served_one(fuzzed_api: Stack) -> None:
    served = httpx.get(f"{fuzzed_api.url}/openapi.json", timeout=60).json()
    assert served == schema.raw_schema


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=not os.environ.get("REGTUNE_FUZZ_RANDOM"),
    database=None,
)
def test_no_5xx_and_responses_match_the_schema(case: Any, fuzzed_api: Stack) -> None:
    excluded = []
    if (case.method, case.path) in SEMANTIC_BODIES:
        excluded.append(positive_data_acceptance)
    case.call_and_validate(base_url=fuzzed_api.url, headers=AUTH, excluded_checks=excluded)
