"""``training.fused_trials`` is a strict field with a 422 naming it, and admission counts the
memory of every fused member: the data once, the model and its activations per member."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from regtune.service.settings import Settings
from regtune.service.spec import cost
from regtune.service.spec.definition import StudySpec
from regtune.service.store.repos import studies
from tests.inprocess import Apps
from tests.service.test_admission import assert_refused, definition


def mlp(name: str, fused: Any, **changes: Any) -> dict[str, Any]:
    return definition(
        name,
        model={"kind": "mlp", "hidden_layers": [64, 64]},
        training__fused_trials=fused,
        **changes,
    )


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (mlp("zero", 0), "greater than or equal to 1"),
        (mlp("many", 65), "less than or equal to 64"),
        (mlp("text", "8"), "must be a whole number, got the text '8'"),
        (mlp("float", 2.5), "valid integer"),
        (definition("linear", training__fused_trials=4), "fused trials train MLPs only"),
    ],
    ids=["zero", "over 64", "a string", "a fraction", "a linear model"],
)
def test_a_bad_fused_trials_is_a_422_naming_the_field(
    api: TestClient, body: dict[str, Any], why: str
) -> None:
    response = api.post("/v1/studies", json=body)
    assert_refused(api, response, 422, "training.fused_trials")
    assert why in response.text


def test_fused_members_memory_is_admitted_per_member(apps: Apps) -> None:
    """64 members of a [1024, 1024] MLP need ~64× one member's model and activations: refused
    under a budget one trial fits, with the most that fit, and that many are admitted."""
    wide = {"model": {"kind": "mlp", "hidden_layers": [1024, 1024]}}
    api = apps(max_trial_memory_mb=256)
    too_many = api.post("/v1/studies", json={**mlp("wide-64", 64), **wide})
    assert_refused(api, too_many, 422, "training.fused_trials")
    fit = StudySpec.model_validate({**mlp("probe", 64), **wide})
    budget = cost.Budget.from_settings(Settings(max_trial_memory_mb=256))
    shape = cost.shape_of(fit)
    most = cost.fused_width(fit, shape, budget, asked=64)
    assert 1 < most < 64 and f"fused_trials ≤ {most}" in too_many.text
    one = cost.estimate(fit, shape)
    assert cost.fused_memory(one, most) <= budget.max_trial_memory_bytes
    assert cost.fused_memory(one, most + 1) > budget.max_trial_memory_bytes
    admitted = api.post("/v1/studies", json={**mlp("wide-most", most), **wide})
    assert admitted.status_code == 201, admitted.text


@pytest.mark.parametrize(
    ("body", "slots"),
    [
        (mlp("fused-4", 4), 4),
        (mlp("fused-default", None), 8),
        (mlp("fused-1", 1), 1),
        (definition("linear-path"), 1),
    ],
    ids=["fused_trials 4", "REGTUNE_FUSED_TRIALS", "one at a time", "linear"],
)
def test_a_study_stores_the_slots_one_claim_takes_for_the_autoscaler(
    apps: Apps, body: dict[str, Any], slots: int
) -> None:
    api = apps(fused_trials=8)
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    assert studies.get_row(created.json()["id"]).slots_per_claim == slots


def test_the_slots_one_claim_takes_are_as_many_members_as_fit(apps: Apps) -> None:
    """Where memory fits fewer members than asked, a worker trains that many at once, and that
    is what the autoscaler divides by."""
    wide = {"model": {"kind": "mlp", "hidden_layers": [1024, 1024]}}
    api = apps(max_trial_memory_mb=256, fused_trials=64)
    created = api.post("/v1/studies", json={**mlp("wide-default", None), **wide})
    assert created.status_code == 201, created.text
    fit = StudySpec.model_validate({**mlp("probe", 64), **wide})
    budget = cost.Budget.from_settings(Settings(max_trial_memory_mb=256))
    most = cost.fused_width(fit, cost.shape_of(fit), budget, asked=64)
    assert 1 < most < 64
    assert studies.get_row(created.json()["id"]).slots_per_claim == most


def test_the_slots_column_comes_and_goes_with_its_migration_and_claims_stay(
    database_url: str,
) -> None:
    """Migration 0009 adds ``regtune_studies.slots_per_claim`` and its downgrade drops it in
    place: a copy of the table would drop the old one, and SQLite's cascade its claims."""
    from sqlalchemy import inspect, text

    from regtune.service.store.db import make_engine
    from regtune.service.store.migrate import upgrade
    from tests.service.test_schema_privileges import _downgrade
    from tests.support import add_claimed_study

    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        add_claimed_study(engine)
        _downgrade(database_url, "0008")
        with engine.connect() as connection:
            columns = {c["name"] for c in inspect(connection).get_columns("regtune_studies")}
            claims = connection.execute(text("SELECT count(*) FROM regtune_claims")).scalar()
        assert "slots_per_claim" not in columns
        assert claims == 1
        upgrade(database_url)
    finally:
        engine.dispose()
