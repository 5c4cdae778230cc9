"""Definitions no worker could run, and bodies no parser should choke on, are refused up front:
a 4xx JSON naming the field, and nothing stored (issue 15, items 1, 5, 6 and 10)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from regtune.service.spec import admission, cost
from regtune.service.spec.definition import EXAMPLE, StudySpec
from tests.inprocess import Apps
from tests.support import changed


def definition(name: str, **changes: Any) -> dict[str, Any]:
    # minibatch: MLPs and searched learning rates need it
    return changed(EXAMPLE, name=name, training__solver="minibatch", **changes)


def assert_refused(api: TestClient, response: httpx.Response, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert field in [f["path"] for f in error["fields"]], error
    assert api.get("/v1/studies").json()["total"] == 0


GRID_BOMB = definition(
    "grid-bomb",
    sampler={"type": "grid"},
    search_space={
        name: {"choices": [round(0.0005 * (i + 1), 6) for i in range(1000)]}
        for name in ("lambda", "l1_ratio", "dropout", "learning_rate")
    },
)
WIDE_MLP = definition(
    "wide-mlp",
    model={"kind": "mlp", "hidden_layers": [4096] * 8},
    validation={"folds": 3},
)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(GRID_BOMB, "search_space", id="grid of 1000^4 points"),
        pytest.param(
            definition(
                "grid-step",
                sampler={"type": "grid"},
                search_space={"lambda": {"low": 1e-9, "high": 1.0, "step": 1e-9}, "l1_ratio": 0.5},
            ),
            "search_space",
            id="grid of a range with a tiny step",
        ),
        pytest.param(WIDE_MLP, "model.hidden_layers", id="MLP [4096]x8 under 3 folds"),
        pytest.param(
            definition("gp-many", sampler={"type": "gp"}, budget__n_trials=10_000),
            "budget.n_trials",
            id="GP sampler over 10,000 trials",
        ),
        pytest.param(
            definition(
                "long",
                dataset={"synthetic": {"kind": "sparse_regression", "n_samples": 200_000}},
                model={"kind": "mlp", "hidden_layers": [1024, 1024]},
                training={"max_epochs": 10_000},
            ),
            "training.max_epochs",
            id="10,000 epochs of a 1M-parameter MLP on 200k rows",
        ),
    ],
)
def test_a_definition_no_worker_can_hold_is_refused_with_the_field(
    api: TestClient, body: dict[str, Any], field: str
) -> None:
    assert_refused(api, api.post("/v1/studies", json=body), 422, field)


def test_the_budget_is_configurable(apps: Apps) -> None:
    """A server with a larger budget accepts the wide MLP (the limit is a setting, not a rule)."""
    api = apps(max_trial_memory_mb=65536, max_trial_tflop=100000)
    assert api.post("/v1/studies", json=WIDE_MLP).status_code == 201


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (
            {"model": {"kind": "mlp", "batch_norm": True}, "training__batch_size": 1},
            "training.batch_size",
        ),
        (
            {
                "model": {"kind": "mlp", "batch_norm": True},
                "search_space__batch_size": {"low": 1, "high": 64, "step": 1},
            },
            "search_space.batch_size",
        ),
    ],
    ids=["fixed batch of one", "searched batch sizes from one"],
)
def test_batch_norm_on_batches_of_one_row_is_refused(
    api: TestClient, changes: dict[str, Any], field: str
) -> None:
    body = definition("bn-one", **changes)
    assert_refused(api, api.post("/v1/studies", json=body), 422, field)


def test_more_folds_than_rows_is_refused(api: TestClient) -> None:
    body = definition(
        "folds",
        dataset={"builtin": "iris"},
        validation={"folds": 20, "test_fraction": 0.89},
        objective={"metric": "val_loss"},
    )
    assert_refused(api, api.post("/v1/studies", json=body), 422, "validation.folds")


@pytest.mark.parametrize(
    ("validation", "field"),
    [
        ({"holdout": 0.01}, "validation.holdout"),
        ({"folds": 3, "test_fraction": 0.01}, "validation.test_fraction"),
    ],
    ids=["holdout of 2 rows", "test split of 2 rows"],
)
def test_a_split_with_fewer_rows_than_classes_is_refused(
    api: TestClient, validation: dict[str, Any], field: str
) -> None:
    """iris has 3 classes: a stratified split of 2 rows was accepted (201) and every trial
    failed with the worker's ValueError."""
    body = definition(
        "few-rows",
        dataset={"builtin": "iris"},
        validation=validation,
        objective={"metric": "val_loss"},
    )
    response = api.post("/v1/studies", json=body)
    assert_refused(api, response, 422, field)
    assert "3 classes" in response.text and " / 2" in response.text


def nested(levels: int, *, yaml_text: bool) -> str:
    if yaml_text:
        return "name: deep\ndataset: " + "[" * levels + "]" * levels + "\n"
    return '{"name": "deep", "dataset": ' + "[" * levels + "]" * levels + "}"


@pytest.mark.parametrize("levels", [100, 1000, 100_000])
@pytest.mark.parametrize("kind", ["json", "yaml"])
def test_deeply_nested_bodies_get_a_json_400(api: TestClient, levels: int, kind: str) -> None:
    content_type = "application/yaml" if kind == "yaml" else "application/json"
    response = api.post(
        "/v1/studies",
        content=nested(levels, yaml_text=kind == "yaml"),
        headers={"Content-Type": content_type},
    )
    assert_refused(api, response, 400, "body")
    assert "nested too deeply" in response.json()["error"]["message"]


def test_a_self_referencing_yaml_alias_gets_a_json_400(api: TestClient) -> None:
    response = api.post(
        "/v1/studies",
        content="name: loop\ndataset: &d [*d]\n",
        headers={"Content-Type": "application/yaml"},
    )
    assert_refused(api, response, 400, "body")


def test_the_examples_fit_the_default_budget() -> None:
    """Every shipped example and the OpenAPI example stays well inside the defaults."""
    from pathlib import Path

    import yaml

    from regtune.service.settings import Settings

    budget = cost.Budget.from_settings(Settings())
    bodies = [EXAMPLE] + [
        yaml.safe_load(p.read_text()) for p in sorted(Path("examples").glob("*.yaml"))
    ]
    for body in bodies:
        spec = StudySpec.model_validate(json.loads(json.dumps(body)))
        assert admission.problems(spec, cost.shape_of(spec), budget) == [], body["name"]


def test_a_yaml_billion_laughs_is_refused_cheaply(api: TestClient) -> None:
    """Nine levels of nine aliases: 387 M strings if expanded; each node is measured once."""
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        prev, name = chr(ord("a") + level - 1), chr(ord("a") + level)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    body = "name: laughs\ndataset: {builtin: diabetes}\n" + "\n".join(lines) + "\n"
    response = api.post(
        "/v1/studies",
        content=body,
        headers={"Content-Type": "application/yaml"},
    )
    assert response.status_code == 422, response.text  # unknown fields a..i, named
    assert "a" in [f["path"] for f in response.json()["error"]["fields"]]


def test_names_that_look_like_sql_are_refused(api: TestClient) -> None:
    for name in ("x'; DROP TABLE regtune_studies; --", 'a" OR "1"="1', "名前"):
        response = api.post("/v1/studies", json=definition(name))
        assert_refused(api, response, 422, "name")


def test_a_gzip_body_is_bytes_not_a_decompression(api: TestClient) -> None:
    """The API never inflates a request body: gzip bytes are an unparseable definition."""
    import gzip

    packed = gzip.compress(json.dumps(definition("gz")).encode() + b" " * 50_000_000)
    response = api.post(
        "/v1/studies",
        content=packed,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert_refused(api, response, 400, "body")


def test_concurrent_submissions_of_one_name_make_one_study(api: TestClient) -> None:
    from concurrent.futures import ThreadPoolExecutor

    body = definition("twins")
    with ThreadPoolExecutor(10) as pool:
        codes = list(
            pool.map(
                lambda _: api.post("/v1/studies", json=body).status_code,
                range(10),
            )
        )
    assert sorted(codes) == [201] + [409] * 9
    listed = api.get("/v1/studies").json()
    assert [s["name"] for s in listed["items"]].count("twins") == 1
    deleted = api.delete(f"/v1/studies/{listed['items'][0]['id']}")
    assert deleted.status_code == 204


def test_val_r2_on_one_row_folds_is_refused_naming_the_most_folds(api: TestClient) -> None:
    """The R² of one validation row is undefined (every trial would score 0, the best drawn at
    random): ``val_r2`` needs 2 rows in every fold; other metrics score one row."""

    def body(folds: int, metric: str) -> dict[str, object]:
        return definition(
            f"r2-{folds}-{metric}",
            dataset={"synthetic": {"kind": "sparse_regression", "n_samples": 40}},
            validation={"folds": folds},  # 32 rows outside the test split
            objective={"metric": metric},
        )

    refused = api.post("/v1/studies", json=body(20, "val_r2"))
    assert_refused(api, refused, 422, "validation.folds")
    (problem,) = refused.json()["error"]["fields"]
    assert "val_r2 needs at least 2 validation rows in every fold" in problem["rule"]
    assert "the splits leave 1 of the 32 rows: use at most 16 folds" in problem["rule"]
    assert api.post("/v1/studies", json=body(16, "val_r2")).status_code == 201
    assert api.post("/v1/studies", json=body(20, "val_loss")).status_code == 201


def test_a_grid_study_takes_no_more_trials_than_its_grid_has_points(api: TestClient) -> None:
    """A grid of 3 × 3 points with ``n_trials: 100`` (or the default 50) ran 100 trials, 91 of
    them points already run, to the same values (one ``training.seed`` for every trial), where
    Optuna's GridSampler stops the study once its grid is done. A budget given above the grid is
    refused; left out, it is the grid's size (at most the default 50), stored as such."""
    grid = {"lambda": {"choices": [0.001, 0.01, 0.1]}, "l1_ratio": {"choices": [0, 0.5, 1]}}

    def body(name: str, **budget: Any) -> dict[str, Any]:
        body = definition(name, sampler={"type": "grid", "seed": 0}, search_space=grid)
        if budget:
            body["budget"] = budget
        else:
            del body["budget"]
        return body

    too_many = api.post("/v1/studies", json=body("grid-100", n_trials=100))
    assert_refused(api, too_many, 422, "budget.n_trials")
    assert too_many.json()["error"]["message"] == (
        "budget.n_trials: the grid sampler's grid has 9 points, each run once; n_trials 100 "
        "would run 91 of them again, to the same result: give n_trials ≤ 9, or leave it out "
        "(the grid's size)"
    )
    left_out = api.post("/v1/studies", json=body("grid-default"))
    assert left_out.status_code == 201, left_out.text
    stored = api.get(left_out.headers["location"]).json()["definition"]
    assert stored["budget"]["n_trials"] == 9
    large = {"lambda": {"choices": [10.0**-k for k in range(8)]}, "l1_ratio": grid["l1_ratio"]}
    larger = definition("grid-24", sampler={"type": "grid", "seed": 0}, search_space=large)
    del larger["budget"]
    created = api.post("/v1/studies", json=larger)
    assert created.status_code == 201, created.text
    assert api.get(created.headers["location"]).json()["definition"]["budget"]["n_trials"] == 24
    assert api.post("/v1/studies", json=body("grid-9", n_trials=9)).status_code == 201
