"""Every sampler a definition may name runs a study to its end in a real worker, past its
start-up trials, over numeric ranges (a sampler's own search: CMA-ES's needs the ``cmaes``
package, GP's torch and SciPy) and over a categorical choice.

CMA-ES was admitted while the worker's install lacked ``cmaes``: its first trial (sampled
independently) completed, every later one FAILed with ``ModuleNotFoundError``."""

from __future__ import annotations

import typing
from typing import Any

import pytest
from fastapi.testclient import TestClient

from regtune.service.spec.policies import Sampler
from tests.inprocess import run_to_the_end

SAMPLERS = [
    member.model_fields["type"].annotation.__args__[0]
    for member in typing.get_args(typing.get_args(Sampler)[0])
]
"""Every ``sampler.type`` the definition accepts, read from the definition's own union."""
SETTINGS: dict[str, dict[str, Any]] = {
    "tpe": {"n_startup_trials": 2},
    "gp": {"n_startup_trials": 2},
    "cmaes": {"n_startup_trials": 1},
    "nsgaii": {"population_size": 2},
}
"""Start-up short enough that the sampler's own search proposes most of the trials."""
N_TRIALS = 6


def definition(sampler: str, name: str) -> dict[str, Any]:
    step = {"step": 0.25} if sampler == "grid" else {}  # the grid walks finite values
    return {
        "name": name,
        "dataset": {"builtin": "diabetes"},
        "model": {"kind": "linear"},
        "search_space": {
            "lambda": {"low": 0.01, "high": 1.01, **step},
            "l1_ratio": {"low": 0.0, "high": 1.0, **step},
            "input_noise": {"choices": [0.0, 0.5]},
        },
        "training": {"lambda_path": None, "max_iter": 100, "report_every": 25},
        "validation": {"holdout": 0.2},
        "sampler": {"type": sampler, "seed": 0, **SETTINGS.get(sampler, {})},
        "pruner": {"type": "none"},
        "budget": {"n_trials": N_TRIALS, "max_parallel": 1},
    }


def test_every_sampler_of_the_definition_is_run_here() -> None:
    assert set(SAMPLERS) == {"tpe", "random", "grid", "gp", "cmaes", "nsgaii", "qmc"}


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_completes_its_study_in_a_worker(api: TestClient, sampler: str) -> None:
    created = api.post("/v1/studies", json=definition(sampler, f"sampler-{sampler}"))
    assert created.status_code == 201, created.text
    study = run_to_the_end(api, created.json()["id"])
    trials = api.get(f"/v1/studies/{study['id']}/trials").json()["items"]
    errors = [t["user_attrs"].get("error") for t in trials if t["state"] != "COMPLETE"]
    assert errors == [], errors
    assert len(trials) == N_TRIALS and study["status"] == "completed", study
