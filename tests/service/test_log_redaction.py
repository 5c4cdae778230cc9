"""Log lines mask API keys by their shape, not every word that starts as one does: a study
named ``rt_lasso-monkey`` is logged by its name."""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from regtune.service import logs
from tests.inprocess import Apps

ADMIN = "log-redaction-admin-key-0123"


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """This process's log as JSON lines; its logging as it was afterwards."""
    root, optuna_root = logging.getLogger(), logging.getLogger("optuna")
    saved = (root.handlers[:], root.level, optuna_root.handlers[:], optuna_root.propagate)
    optuna_level = optuna_root.level  # other test modules quiet Optuna to WARNING
    optuna_root.setLevel(logging.INFO)  # Optuna's own default, as a service runs it
    stream = io.StringIO()
    with warnings.catch_warnings():
        logs.setup(fmt="json", level="INFO", stream=stream)
        yield stream
        logging.captureWarnings(False)
    root.handlers[:], level, optuna_root.handlers[:], optuna_root.propagate = saved
    root.setLevel(level)
    optuna_root.setLevel(optuna_level)


def study(name: str) -> dict[str, object]:
    return {
        "name": name,
        "dataset": {"builtin": "diabetes"},
        "model": {"kind": "linear"},
        "search_space": {"lambda": {"low": 1e-4, "high": 1.0, "log": True}},
        "budget": {"n_trials": 2},
    }


def test_a_study_named_like_a_key_prefix_is_logged_by_name_and_a_key_is_masked(
    apps: Apps, json_lines: io.StringIO
) -> None:
    app = apps(admin_key=ADMIN)
    admin = TestClient(app.app, headers={"Authorization": f"Bearer {ADMIN}"})
    key = admin.post("/v1/keys", json={"tenant": "alpha"}).json()["key"]
    created = admin.post("/v1/studies", json=study("rt_lasso-monkey"))
    assert created.status_code == 201, created.text
    study_id = created.json()["id"]
    logging.getLogger("regtune.service.api").warning("a key in a message: %s.", key)

    said = [json.loads(line)["msg"] for line in json_lines.getvalue().splitlines()]
    created_line = [m for m in said if "A new study created in RDB" in m]
    assert created_line == [
        f"A new study created in RDB with name: rt_lasso-monkey [{study_id}]"
    ], said
    assert "a key in a message: ***." in said
    assert not [m for m in said if key in m or key[:12] in m]
