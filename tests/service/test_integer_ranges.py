"""A whole-number knob's range (``batch_size``) without a step steps by 1, as Optuna's
``suggest_int`` does: taken, stored with its step, and the same range for the worker's
suggestions, the grid and ``points_to_evaluate``."""

from __future__ import annotations

from typing import Any

import optuna
from fastapi.testclient import TestClient

from regtune.service.spec.definition import StudySpec
from regtune.service.spec.space import KNOBS, Range, grid_values
from regtune.worker.policies import make_sampler
from regtune.worker.search import suggest


def definition(name: str, batch_size: dict[str, Any], **parts: Any) -> dict[str, Any]:
    return {
        "name": name,
        "dataset": {"builtin": "diabetes"},
        "model": {"kind": "mlp", "hidden_layers": [8]},
        "search_space": {"lambda": 1e-3, "l1_ratio": 0.5, "batch_size": batch_size},
        "training": {"max_epochs": 2},
        **parts,
    }


def test_a_batch_size_range_without_a_step_steps_by_one(api: TestClient) -> None:
    """``{low: 8, high: 64}`` was a 422 "a batch_size range needs an integer step", while the
    same range with ``log: true`` was taken without one."""
    created = api.post("/v1/studies", json=definition("steps", {"low": 8, "high": 64}))
    assert created.status_code == 201, created.text
    stored = created.json()["definition"]["search_space"]["batch_size"]
    assert stored == {"low": 8, "high": 64, "log": False, "step": 1}
    given = definition("given", {"low": 8, "high": 64, "step": 1})
    assert (
        StudySpec.model_validate(given).search_space
        == StudySpec.from_stored(created.json()["definition"]).search_space
    )
    logged = StudySpec.model_validate(definition("log", {"low": 8, "high": 64, "log": True}))
    assert logged.search_space.batch_size == Range(low=8, high=64, log=True)


def test_the_worker_the_grid_and_points_take_the_range_alike() -> None:
    spec = StudySpec.model_validate(definition("grid", {"low": 8, "high": 11}))
    param = spec.search_space.batch_size
    assert isinstance(param, Range)
    assert grid_values(param, KNOBS["batch_size"]) == [8, 9, 10, 11]
    grid = StudySpec.model_validate(
        definition("grid", {"low": 8, "high": 11}, sampler={"type": "grid"})
    )
    assert grid.search_space.grid_size() == grid.budget.n_trials == 4
    study = optuna.create_study(sampler=make_sampler(grid))
    study.optimize(lambda trial: suggest(trial, grid)["batch_size"], n_trials=4)
    assert sorted(t.params["batch_size"] for t in study.trials) == [8, 9, 10, 11]
    points = definition("points", {"low": 8, "high": 11}, sampler={"points_to_evaluate": []})
    points["sampler"]["points_to_evaluate"] = [{"batch_size": 9}]
    assert StudySpec.model_validate(points).sampler.points_to_evaluate == [{"batch_size": 9}]
