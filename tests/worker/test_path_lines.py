"""Every point of a λ path is logged once as it ends, with all its parameters, λ and relax
among them: the further points as the path writes them, the path's own trial by Optuna as it
ends (was: only the path's own trial, without λ and relax, which the path chose and stored
itself: ``Trial 0 finished with value: {'val_loss': 0.2477} and parameters: {'l1_ratio':
0.417}.``)."""

from __future__ import annotations

import ast
import contextvars
import io
import json
import logging
import re
from typing import Any

import pytest

from regtune.service import logs
from regtune.worker.loop import Worker
from tests.inprocess import Apps

POINTS = 6
FINISHED = re.compile(
    r"^Trial (\d+) finished with value: (\{'val_loss': [^}]+\}) and parameters: (\{.*\})\."
)
ENET: dict[str, Any] = {
    "name": "enet-lines",
    "dataset": {"builtin": "diabetes"},
    "model": {"kind": "linear"},
    "search_space": {
        "lambda": {"low": 1e-4, "high": 10.0, "log": True},
        "l1_ratio": {"low": 0.0, "high": 1.0},
    },  # a regression's relax is searched by default: each λ at 3 relax values
    "training": {"lambda_path": {"points": POINTS, "patience": None}},
    "validation": {"folds": 3},
    "sampler": {"type": "tpe", "seed": 0},
    "pruner": {"type": "none"},
    "budget": {"n_trials": 8 * POINTS, "max_parallel": POINTS},  # 8 paths: points of 6
}


def test_every_point_of_a_path_is_logged_once_with_all_its_parameters(
    apps: Apps, caplog: pytest.LogCaptureFixture
) -> None:
    api = apps()
    created = api.post("/v1/studies", json=ENET)
    assert created.status_code == 201, created.text
    study_id = created.json()["id"]

    written = io.StringIO()
    as_logged = logging.StreamHandler(written)
    as_logged.setFormatter(logs.JsonFormatter())
    optuna_study = logging.getLogger("optuna.study")
    optuna_study.addHandler(as_logged)
    try:
        with caplog.at_level(logging.INFO, logger="optuna"):
            contextvars.copy_context().run(Worker().run, max_trials=2)
    finally:
        optuna_study.removeHandler(as_logged)

    trials = api.get(f"/v1/studies/{study_id}/trials", params={"limit": 50}).json()["items"]
    assert len(trials) == 2 * POINTS and {t["state"] for t in trials} == {"COMPLETE"}
    lines: dict[int, list[dict[str, Any]]] = {}
    for line in map(json.loads, written.getvalue().splitlines()):
        found = FINISHED.match(line["msg"])
        assert found, line
        lines.setdefault(int(found.group(1)), []).append(
            {
                "params": ast.literal_eval(found.group(3)),
                "value": ast.literal_eval(found.group(2))["val_loss"],
                "fields": (line["study_id"], line["trial"]),
                "level": line["level"],
            }
        )
    assert sorted(lines) == sorted(t["number"] for t in trials)  # every point, once
    for trial in trials:
        (said,) = lines[trial["number"]]
        assert said["params"] == trial["params"]  # l1_ratio, lambda and relax
        assert set(said["params"]) == {"l1_ratio", "lambda", "relax"}
        assert said["value"] == trial["value"]
        assert said["fields"] == (study_id, trial["number"]) and said["level"] == "INFO"
