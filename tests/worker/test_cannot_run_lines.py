"""A trial that cannot start is logged as its error, the one its FAIL trial stores, on a line
naming the study and the trial; the traceback only for an error the worker did not expect (was:
``study … cannot run`` with ``trial: null`` and a 27-line traceback holding the cause)."""

from __future__ import annotations

import contextvars
import io
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import optuna
import pytest

from regtune.service import logs
from regtune.worker.failures import OUT_OF_MEMORY
from regtune.worker.loop import Worker
from regtune.worker.search import StopCheck
from tests.inprocess import Apps

TRIAL_RUN = "regtune.worker.trial_run"


def out_of_memory_while_loading(
    spec: Any, *, stop_check: StopCheck
) -> Callable[[optuna.Trial], float]:
    """Loading the data takes more memory than the worker may use."""
    if spec.name.startswith("too-big"):
        np.ones((1 << 22, 1 << 22))  # 128 TiB: numpy's MemoryError
    raise KeyError("the objective cannot be built")  # what no one expects


@contextmanager
def json_lines(logger: str) -> Iterator[io.StringIO]:
    """What ``logger`` writes meanwhile, as the JSON lines of a pool's log."""
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(logs.JsonFormatter())
    logging.getLogger(logger).addHandler(handler)
    try:
        yield written
    finally:
        logging.getLogger(logger).removeHandler(handler)


def test_a_trial_that_cannot_start_is_logged_as_its_error_naming_it(
    apps: Apps, caplog: pytest.LogCaptureFixture
) -> None:
    api = apps(objective_factory=f"{__name__}:out_of_memory_while_loading")
    ids = {}
    for name in ("too-big", "broken"):
        body = {
            "name": name,
            "dataset": {"builtin": "diabetes"},
            "search_space": {"lambda": {"low": 1e-3, "high": 1.0, "log": True}},
            "budget": {"n_trials": 1, "max_retries": 0, "max_parallel": 1},
        }
        created = api.post("/v1/studies", json=body)
        assert created.status_code == 201, created.text
        ids[name] = created.json()["id"]

    caplog.set_level(logging.INFO, logger=TRIAL_RUN)
    with json_lines(TRIAL_RUN) as written:
        assert contextvars.copy_context().run(Worker().run, max_trials=2) == 2

    lines = [json.loads(line) for line in written.getvalue().splitlines()]
    refused = {line["study_id"]: line for line in lines if "cannot run" in line["msg"]}
    assert set(refused) == set(ids.values()), lines
    for name, study_id in ids.items():
        (trial,) = api.get(f"/v1/studies/{study_id}/trials").json()["items"]
        line = refused[study_id]
        assert line["level"] == "ERROR" and line["trial"] == trial["number"] == 0, line
        assert line["msg"] == f"study {study_id} trial 0 cannot run: {trial['user_attrs']['error']}"
        if name == "too-big":
            assert trial["user_attrs"]["error"].startswith(OUT_OF_MEMORY)
            assert "exc" not in line  # the error says it in words
        else:
            assert "KeyError: 'the objective cannot be built'" in line["msg"]
            assert "Traceback" in line["exc"]  # what no one expected: where it came from
