"""A sampler seed a definition leaves out, with its seed or its whole ``sampler`` block, is drawn
when the study is created and stored in its definition (README, "Reproducibility"): two studies
of one such definition propose their own trials, and each stored definition runs its study again.
A seed given is kept, and a stored definition reads back as it was stored, never drawn again."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from regtune.service.spec.definition import StudySpec
from regtune.service.store.db import make_engine
from regtune.service.store.migrate import upgrade
from regtune.service.store.repos.study_creation import create_study
from regtune.service.store.scheduling.retries import storage_with_retries

UNSEEDED: dict[str, Any] = {
    "dataset": {"builtin": "diabetes"},
    "model": {"kind": "linear"},
    "budget": {"n_trials": 4},
}


def stored_sampler(api: TestClient, name: str, **parts: Any) -> dict[str, Any]:
    """The sampler the study's stored definition holds, as POST answered and as GET shows it."""
    created = api.post("/v1/studies", json={"name": name, **UNSEEDED, **parts})
    assert created.status_code == 201, created.text
    shown = api.get(f"/v1/studies/{created.json()['id']}").json()["definition"]["sampler"]
    assert created.json()["definition"]["sampler"] == shown
    return dict(shown)


def test_two_studies_without_a_sampler_store_seeds_of_their_own(api: TestClient) -> None:
    first, second = (stored_sampler(api, name) for name in ("first", "second"))
    assert first["type"] == second["type"] == "tpe"
    assert isinstance(first["seed"], int) and isinstance(second["seed"], int)
    assert first["seed"] != second["seed"]


@pytest.mark.parametrize("sampler", [{"type": "tpe"}, {"type": "random", "seed": None}])
def test_a_sampler_without_a_seed_stores_one_drawn(
    api: TestClient, sampler: dict[str, Any]
) -> None:
    stored = stored_sampler(api, "drawn", sampler=sampler)
    assert stored["type"] == sampler["type"]
    assert isinstance(stored["seed"], int)


@pytest.mark.parametrize("seed", [0, 7])
def test_a_given_seed_is_kept(api: TestClient, seed: int) -> None:
    assert stored_sampler(api, "given", sampler={"type": "tpe", "seed": seed})["seed"] == seed


def test_a_study_created_in_process_stores_a_drawn_seed(sqlite_url: str) -> None:
    """``create_study`` itself draws, so a study created without the API (a bench, a script)
    stores its seed as one created through ``POST /v1/studies`` does."""
    upgrade(sqlite_url)
    engine, storage = make_engine(sqlite_url), storage_with_retries(sqlite_url)
    spec = StudySpec.model_validate({"name": "in-process", **UNSEEDED})
    assert spec.sampler.seed is None  # drawn when the study is created, not when it is read
    try:
        seeds = [
            create_study(
                spec.model_copy(update={"name": name}), engine=engine, storage=storage
            ).spec["sampler"]["seed"]
            for name in ("one", "two")
        ]
    finally:
        engine.dispose()
        storage.engine.dispose()
    assert all(isinstance(seed, int) for seed in seeds) and seeds[0] != seeds[1]


@pytest.mark.parametrize("seed", [0, 12345, None])
def test_a_stored_definition_reads_back_its_seed_without_drawing(seed: int | None) -> None:
    """An older study stored with seed 0 (the old default) keeps it; one stored before seeds
    were stored (null) stays unseeded, as it ran."""
    stored = StudySpec.model_validate({"name": "old", **UNSEEDED}).to_stored()
    stored["sampler"]["seed"] = seed
    assert StudySpec.from_stored(stored).sampler.seed == seed
    assert StudySpec.from_stored(stored).to_stored() == stored
