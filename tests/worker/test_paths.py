"""λ-path trials end to end in this process: a study over the API, a worker, Optuna's tables and
optuna-dashboard's API, with the exact solver on real data."""

from __future__ import annotations

import math
from typing import Any

import httpx
import optuna
import pytest
from fastapi.testclient import TestClient
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState
from optuna_dashboard import wsgi

from regtune.service.store.optuna_db.attrs import COEFFICIENTS_ATTR, PATH_OF_ATTR
from tests.inprocess import Apps, run_to_the_end

DEFINITION: dict[str, Any] = {
    "name": "paths",
    "dataset": {"builtin": "diabetes"},
    "model": {"kind": "linear"},
    "search_space": {
        "lambda": {"low": 1e-4, "high": 10.0, "log": True},
        "l1_ratio": {"low": 0.0, "high": 1.0},
    },
    "training": {"lambda_path": {"points": 8, "patience": None}},
    "validation": {"folds": 3},
    "sampler": {"type": "tpe", "seed": 0, "n_startup_trials": 5},
    "budget": {"n_trials": 68, "max_parallel": 1},
}


def test_a_path_study_stores_exactly_its_budget_of_points_as_trials(apps: Apps) -> None:
    api = apps()
    created = api.post("/v1/studies", json=DEFINITION)
    assert created.status_code == 201, created.text
    study_id = created.json()["id"]
    study = run_to_the_end(api, study_id, timeout=300)
    assert study["status"] == "completed" and study["progress"]["done"] == 68, study
    storage = optuna.storages.RDBStorage(f"sqlite:///{Apps.database_path(api)}")
    optuna_study = optuna.load_study(study_name=study["optuna_study_name"], storage=storage)
    trials = optuna_study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 68
    # 8 paths of 8 points and one of 4 (the budget's rest): each path's first point is its
    # claim's trial, the others name it; every point has the study's distributions, λ in range
    firsts = [t for t in trials if PATH_OF_ATTR not in t.system_attrs]
    assert len(firsts) == 9
    tails = []
    for first in firsts:
        points = [first] + [t for t in trials if t.system_attrs.get(PATH_OF_ATTR) == first.number]
        # a regression's relax is searched by default: each λ at relax 0, 0.4 and 0.8 in turn,
        # and the last λ, with room for fewer, at as many of them drawn by the path
        lambdas = [t.params["lambda"] for t in points]
        assert lambdas == sorted(lambdas, reverse=True)
        assert len(set(lambdas)) == -(-len(points) // 3)  # ceil
        relax = [t.params["relax"] for t in points]
        whole = len(points) // 3
        assert relax[: 3 * whole] == [0.0, 0.4, 0.8] * whole
        tails.append(relax[3 * whole :])
        assert tails[-1] == sorted(set(tails[-1])) and set(tails[-1]) <= {0.0, 0.4, 0.8}
        assert {t.params["l1_ratio"] for t in points} == {first.params["l1_ratio"]}
    assert {value for tail in tails for value in tail} == {0.0, 0.4, 0.8}  # 0.8 among them
    assert (
        sorted(
            len([first] + [t for t in trials if t.system_attrs.get(PATH_OF_ATTR) == first.number])
            for first in firsts
        )
        == [4] + [8] * 8
    )
    for t in trials:
        assert t.distributions["lambda"] == FloatDistribution(1e-4, 10.0, log=True)
        assert t.value is not None and math.isfinite(t.value)
        assert 1e-4 <= t.params["lambda"] <= 10.0
        assert {"n_nonzero", "n_inputs", "val_loss", "test_loss", "fold_values"} <= set(
            t.user_attrs
        )
        assert len(t.user_attrs["fold_values"]) == 3
        assert t.intermediate_values == {t.user_attrs["epochs_run"]: t.value}
        # the report's coefficient path: every point's weights by input, as a single trial's
        weights = t.system_attrs[COEFFICIENTS_ATTR]
        # an input counts if any fold model uses it (n_inputs is the folds' mean)
        assert math.ceil(t.user_attrs["n_inputs"]) <= len(weights) <= 10
        assert all(weights.values())
    # the API pages and the best trial see every point
    page = api.get(f"/v1/studies/{study_id}/trials", params={"limit": 100}).json()
    assert len(page["items"]) == 68
    # each further point names its path's trial, in the listing and on its own route
    marks = {t.number: t.system_attrs.get(PATH_OF_ATTR) for t in trials}
    assert {t["number"]: t["path_of"] for t in page["items"]} == marks
    further = next(n for n, path_of in marks.items() if path_of is not None)
    alone = api.get(f"/v1/studies/{study_id}/trials/{further}").json()
    assert alone["path_of"] == marks[further] and marks[marks[further]] is None
    best = min(trials, key=lambda t: float(t.value or math.inf))
    assert study["best_trial"]["number"] == best.number
    assert study["best_model"] is not None
    report = api.get(study["report_url"])
    assert report.status_code == 200 and "Optimization history" in report.text

    # optuna-dashboard lists the points like any trial
    dashboard = httpx.Client(transport=httpx.WSGITransport(app=wsgi(storage)), base_url="http://d")
    summaries = dashboard.get("/api/studies").json()["study_summaries"]
    sid = next(s["study_id"] for s in summaries if s["study_name"] == study["optuna_study_name"])
    detail = dashboard.get(f"/api/studies/{sid}", params={"after": 0}).json()
    assert len(detail["trials"]) == 68
    assert {t["number"] for t in detail["trials"]} == set(range(68))
    names = {"lambda", "l1_ratio", "relax"}
    assert all({p["name"] for p in t["params"]} == names for t in detail["trials"])
    storage.engine.dispose()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"training": {"solver": "minibatch", "lambda_path": {"points": 5}}}, "exact solver"),
        ({"search_space": {"lambda": 0.01}, "training": {"lambda_path": {"points": 5}}}, "range"),
        ({"sampler": {"type": "cmaes"}, "training": {"lambda_path": {"points": 5}}}, "sampler"),
        ({"training": {"lambda_path": {"points": 1}}}, "greater than or equal to 2"),
        ({"training": {"lambda_path": {"points": 5, "stride": 2}}}, "Extra inputs"),
    ],
)
def test_paths_asked_for_where_they_cannot_run_are_refused(
    api: TestClient, change: dict[str, Any], message: str
) -> None:
    answer = api.post("/v1/studies", json={**DEFINITION, **change})
    assert answer.status_code == 422, answer.text
    fields = answer.json()["error"]["fields"]
    assert any(
        f["path"].startswith("training.lambda_path") and message in f["rule"] for f in fields
    ), fields


def test_paths_are_the_default_where_they_apply_and_can_be_turned_off(api: TestClient) -> None:
    plain = {k: v for k, v in DEFINITION.items() if k != "training"}
    on = api.post("/v1/studies", json={**plain, "name": "on"}).json()
    off = api.post(
        "/v1/studies", json={**plain, "name": "off", "training": {"lambda_path": None}}
    ).json()
    minibatch = {**plain, "name": "mb", "training": {"solver": "minibatch"}}
    mb = api.post("/v1/studies", json=minibatch).json()
    assert on["definition"]["training"]["lambda_path"] == {
        "points": 100,
        "min_ratio": 1e-3,
        "patience": 10,
    }
    assert off["definition"]["training"]["lambda_path"] is None
    assert mb["definition"]["training"]["lambda_path"] is None


@pytest.mark.parametrize(
    ("n_trials", "points", "expected"), [(30, 50, 3), (700, 50, 50), (8, 50, 2)]
)
def test_a_path_leaves_the_sampler_at_least_eight_choices_of_the_other_knobs(
    n_trials: int, points: int, expected: int
) -> None:
    from regtune.service.spec.definition import StudySpec

    spec = StudySpec.model_validate(
        {
            **DEFINITION,
            "training": {"lambda_path": {"points": points}},
            "budget": {"n_trials": n_trials},
        }
    )
    assert spec.path_points == expected
    off = StudySpec.model_validate({**DEFINITION, "training": {"lambda_path": None}})
    assert off.path_points == 1
