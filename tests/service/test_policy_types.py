"""A ``sampler`` or ``pruner`` block without ``type`` is the default one with the settings given
(README's definition: sampler "left out: tpe", pruner median "the default"), not a 422 about a
discriminator; the stored definition writes the type."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from regtune.service.spec.definition import StudySpec

BODY: dict[str, Any] = {"dataset": {"builtin": "diabetes"}, "budget": {"n_trials": 4}}


def stored(api: TestClient, name: str, **parts: Any) -> dict[str, Any]:
    """The definition the study stores, as POST answered and as GET shows it."""
    created = api.post("/v1/studies", json={"name": name, **BODY, **parts})
    assert created.status_code == 201, created.text
    shown = api.get(f"/v1/studies/{created.json()['id']}").json()["definition"]
    assert created.json()["definition"] == shown
    return dict(shown)


@pytest.mark.parametrize(
    "sampler",
    [
        {"seed": 1},
        {"points_to_evaluate": [{"lambda": 0.01, "l1_ratio": 0.5}]},
        {"n_startup_trials": 3, "seed": 2},
    ],
    ids=["seed", "points_to_evaluate", "a tpe setting"],
)
def test_a_sampler_without_a_type_is_tpe(api: TestClient, sampler: dict[str, Any]) -> None:
    kept = stored(api, "typeless-sampler", sampler=sampler)["sampler"]
    assert kept["type"] == "tpe"
    assert {k: kept[k] for k in sampler} == sampler


def test_a_sampler_without_a_type_takes_only_tpe_s_settings(api: TestClient) -> None:
    answer = api.post(
        "/v1/studies", json={"name": "nsga-field", **BODY, "sampler": {"population_size": 8}}
    )
    assert answer.status_code == 422, answer.text
    assert "population_size" in answer.text
    assert "discriminator" not in answer.text


@pytest.mark.parametrize(
    ("model", "warmup"),
    [({"kind": "linear"}, 5), ({"kind": "mlp", "hidden_layers": [8]}, 2)],
    ids=["exact solver", "minibatch"],
)
def test_a_pruner_without_a_type_is_the_default_median_with_the_settings_given(
    api: TestClient, model: dict[str, Any], warmup: int
) -> None:
    left_out = stored(api, "default-pruner", model=model)["pruner"]
    assert left_out == {
        "type": "median",
        "n_startup_trials": 10,
        "n_warmup_steps": warmup,
        "interval_steps": 1,
    }
    changed = stored(api, "typeless-pruner", model=model, pruner={"n_startup_trials": 3})
    assert changed["pruner"] == {**left_out, "n_startup_trials": 3}


def test_the_schema_says_which_blocks_may_leave_out_their_type(api: TestClient) -> None:
    """What POST accepts, the OpenAPI schema accepts: TPE and median without ``type`` (was
    required there, so the schema's contract test saw a "schema-violating request accepted"),
    every other sampler and pruner with it."""
    types = api.get("/openapi.json").json()["components"]["schemas"]
    assert "type" not in types["TPESampler"].get("required", [])
    assert "type" not in types["MedianPruner"].get("required", [])
    for other in ("RandomSampler", "GridSampler", "PercentilePruner", "PatientPruner"):
        assert "type" in types[other]["required"], other


def test_a_patient_pruner_s_wrapped_pruner_without_a_type_is_median(api: TestClient) -> None:
    pruner = {"type": "patient", "patience": 2, "wrapped": {"n_startup_trials": 3}}
    wrapped = stored(api, "typeless-wrapped", pruner=pruner)["pruner"]["wrapped"]
    assert wrapped["type"] == "median" and wrapped["n_startup_trials"] == 3


@pytest.mark.parametrize(
    ("model", "warmup"),
    [({"kind": "linear"}, 5), ({"kind": "mlp", "hidden_layers": [8]}, 2)],
    ids=["exact solver", "minibatch"],
)
def test_a_wrapped_pruner_without_a_type_is_the_default_median_the_top_level_gets(
    api: TestClient, model: dict[str, Any], warmup: int
) -> None:
    """``wrapped: {}`` was Optuna's median (5 startup trials, no warm-up: pruning from the first
    epoch) while ``pruner: {}`` is regtune's default (10, the trainer's warm-up)."""
    default = stored(api, "top", model=model, pruner={})["pruner"]
    assert default == {
        "type": "median",
        "n_startup_trials": 10,
        "n_warmup_steps": warmup,
        "interval_steps": 1,
    }
    patient = {"type": "patient", "patience": 6, "wrapped": {}}
    kept = stored(api, "wrapped", model=model, pruner=patient)["pruner"]
    assert kept["wrapped"] == default
    changed = patient | {"wrapped": {"n_startup_trials": 3}}
    kept = stored(api, "changed", model=model, pruner=changed)["pruner"]
    assert kept["wrapped"] == {**default, "n_startup_trials": 3}


@pytest.mark.parametrize(
    ("model", "warmup"),
    [({"kind": "linear"}, 5), ({"kind": "mlp", "hidden_layers": [8]}, 2)],
    ids=["exact solver", "minibatch"],
)
def test_a_median_pruner_with_its_type_written_is_the_default_median_too(
    api: TestClient, model: dict[str, Any], warmup: int
) -> None:
    """``{type: median}`` was Optuna's median (5 startup trials, no warm-up) where ``{}`` and
    ``{n_startup_trials: 3}`` were regtune's default (10, the trainer's warm-up); a stored one
    reads as it was stored, its settings written."""
    default = stored(api, "left-out", model=model)["pruner"]
    assert default["n_warmup_steps"] == warmup
    assert stored(api, "typed", model=model, pruner={"type": "median"})["pruner"] == default
    changed = stored(api, "typed3", model=model, pruner={"type": "median", "n_startup_trials": 3})
    assert changed["pruner"] == {**default, "n_startup_trials": 3}
    patient = {"type": "patient", "patience": 6, "wrapped": {"type": "median"}}
    assert stored(api, "typed-wrapped", model=model, pruner=patient)["pruner"]["wrapped"] == default
    as_optuna = {"type": "median", "n_startup_trials": 5, "n_warmup_steps": 0, "interval_steps": 1}
    earlier = stored(api, "earlier", model=model) | {"pruner": as_optuna}
    assert StudySpec.from_stored(earlier).pruner.model_dump() == as_optuna
