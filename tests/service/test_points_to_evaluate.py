"""``sampler.points_to_evaluate``: configurations a study runs first, as given, before its sampler
proposes its own (Optuna's ``enqueue_trial``, Ray Tune's and hyperopt's ``points_to_evaluate``).
Was: a definition could not name a configuration to try (an unknown field), and a trial
enqueued on the Optuna study from outside was not counted against the budget.

Each point is a trial of the budget, enqueued when the study is created (before any worker can
claim it), marked with its position (``regtune:point``); a point that gives λ in a λ-path study
runs that one configuration, not a path; one that leaves λ out runs a path at its other knobs. A
point the search space does not admit is a 422 naming the point and the parameter, with nothing
stored."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from fastapi.testclient import TestClient
from optuna.trial import TrialState

from regtune.service.spec.definition import StudySpec
from tests.inprocess import Apps, cli_output, run_to_the_end
from tests.service.test_architecture_spec import refusal
from tests.service.test_rest_contract import definition

POINT = "regtune:point"
PATH_OF = "regtune:path_of"


def with_points(points: Any, **more: Any) -> dict[str, Any]:
    made = definition("points", 12) | more
    made["search_space"] = {
        "lambda": {"low": 1e-4, "high": 1.0, "log": True},
        "l1_ratio": {"low": 0.0, "high": 1.0},
    } | more.get("search_space", {})
    made["sampler"] = made["sampler"] | {"points_to_evaluate": points}
    return made


def trials_of(api: TestClient, study_id: str) -> list[dict[str, Any]]:
    listed = api.get(f"/v1/studies/{study_id}/trials", params={"limit": 200}).json()["items"]
    return [
        api.get(f"/v1/studies/{study_id}/trials/{t['number']}").json()
        for t in sorted(listed, key=lambda t: t["number"])
    ]


def test_points_are_stored_and_read_back_as_given(api: TestClient) -> None:
    points = [{"lambda": 0.01, "l1_ratio": 0.25}, {"l1_ratio": 1}]
    created = api.post("/v1/studies", json=with_points(points))
    assert created.status_code == 201, created.text
    kept = created.json()["definition"]
    assert kept["sampler"]["points_to_evaluate"] == points
    assert StudySpec.from_stored(kept).to_stored() == kept  # as a worker reads it


def test_a_definition_without_points_stores_no_key() -> None:
    """An older worker, which knows no ``points_to_evaluate``, still reads such a study."""
    stored = StudySpec.model_validate(definition("plain")).to_stored()
    assert "points_to_evaluate" not in stored["sampler"]


@pytest.mark.parametrize(
    ("points", "path", "rule"),
    [
        ([{"lambda": 5}], "sampler.points_to_evaluate.0.lambda", "within the searched range"),
        (
            [{"lambda": 0.1}, {"dropout": 0.2}],
            "sampler.points_to_evaluate.1.dropout",
            "fixed at 0 by search_space.dropout",
        ),
        ([{"alpha": 1}], "sampler.points_to_evaluate.0.alpha", "not a knob of the search space"),
        (
            [{"lambda": 0.1, "relax": 0.5}],
            "sampler.points_to_evaluate.0.relax",
            "search_space.relax is left out (give its range or choices to set it)",
        ),
        ([{"l1_ratio": "0.5"}], "sampler.points_to_evaluate.0.l1_ratio", "a finite number"),
        ([{"l1_ratio": True}], "sampler.points_to_evaluate.0.l1_ratio", "a finite number"),
        ([{}], "sampler.points_to_evaluate.0", "at least one searched parameter"),
        ([{"lambda": 0.1}] * 13, "sampler.points_to_evaluate", "each point is a trial"),
        ([[0.1, 0.5]], "sampler.points_to_evaluate.0", "valid dictionary"),
    ],
)
def test_a_point_the_space_does_not_admit_is_a_422_naming_it(
    api: TestClient, points: Any, path: str, rule: str
) -> None:
    body = with_points(points) | {"sampler": {"type": "tpe", "points_to_evaluate": points}}
    found = refusal(api, body)
    assert list(found) == [path], found  # and nothing stored (``refusal``)
    assert rule in found[path], found


def test_points_are_checked_against_steps_choices_flags_and_architectures(api: TestClient) -> None:
    mlp = {
        "name": "mlp-points",
        "dataset": {"builtin": "diabetes"},
        "model": {"kind": "mlp"},
        "search_space": {
            "lambda": {"low": 1e-4, "high": 1.0, "log": True},
            "dropout": {"low": 0.0, "high": 0.5, "step": 0.1},
            "batch_size": {"choices": [32, 64]},
            "batch_norm": {"choices": [True, False]},
            "hidden_layers": {"choices": [[16], [32, 16]]},
        },
        "budget": {"n_trials": 4},
    }

    def refused(point: dict[str, Any]) -> dict[str, str]:
        body = mlp | {"sampler": {"type": "random", "points_to_evaluate": [point]}}
        return refusal(api, body)

    at = "sampler.points_to_evaluate.0."
    assert "on the searched range's steps" in refused({"dropout": 0.25})[at + "dropout"]
    assert "one of the searched choices" in refused({"batch_size": 48})[at + "batch_size"]
    assert "a whole number" in refused({"batch_size": 32.5})[at + "batch_size"]
    assert "true or false" in refused({"batch_norm": 1})[at + "batch_norm"]
    assert "[32, 16]" in refused({"hidden_layers": [64]})[at + "hidden_layers"]
    good = {"dropout": 0.3, "batch_size": 64, "batch_norm": False, "hidden_layers": [32, 16]}
    body = mlp | {"sampler": {"type": "random", "points_to_evaluate": [good]}}
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text


def test_the_grid_sampler_refuses_points(api: TestClient) -> None:
    body = with_points([{"l1_ratio": 0.5}]) | {
        "search_space": {"lambda": {"choices": [0.01, 0.1]}, "l1_ratio": {"choices": [0.5, 1]}},
    }
    body["sampler"] = {"type": "grid", "points_to_evaluate": [{"l1_ratio": 0.5}]}
    found = refusal(api, body)
    assert list(found) == ["sampler.points_to_evaluate"], found
    assert "the grid sampler walks its grid" in found["sampler.points_to_evaluate"]


def test_a_path_study_runs_its_points_first_and_counts_them(apps: Apps) -> None:
    """A λ-path study (the exact solver's default): the point that gives λ is one trial at
    exactly that configuration, the one without λ a path at its l1_ratio; the budget counts
    them with the rest."""
    api = apps()
    body = with_points([{"lambda": 0.0123, "l1_ratio": 0.25}, {"l1_ratio": 0.75}])
    del body["training"]  # λ paths, the default
    body["budget"] = {"n_trials": 24}
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    study = run_to_the_end(api, created.json()["id"])
    assert study["status"] == "completed", study
    trials = optuna_trials(api, study["id"])
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials) == 24
    first, second = (next(t for t in trials if t.user_attrs.get(POINT) == i) for i in (0, 1))
    assert first.number == 0  # relax, which the point leaves out, is the sampler's
    assert (first.params["lambda"], first.params["l1_ratio"]) == (0.0123, 0.25), first.params
    assert [t for t in trials if t.system_attrs.get(PATH_OF) == first.number] == []  # no path
    on_second = [t for t in trials if t.system_attrs.get(PATH_OF) == second.number]
    assert on_second, "the point without λ runs a path at its l1_ratio"
    assert {t.params["l1_ratio"] for t in [second, *on_second]} == {0.75}
    path = {(t.params["lambda"], t.params["relax"]) for t in [second, *on_second]}
    assert len(path) == 1 + len(on_second)  # each λ at the path's relax values


def optuna_trials(api: TestClient, study_id: str) -> list[optuna.trial.FrozenTrial]:
    """The study's trials as Optuna reads them (system attributes too: a path's points)."""
    name = api.get(f"/v1/studies/{study_id}").json()["optuna_study_name"]
    url = f"sqlite:///{Apps.database_path(api)}"
    return optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)


def test_an_mlp_study_runs_its_points_as_given(apps: Apps, monkeypatch: pytest.MonkeyPatch) -> None:
    api = apps()
    point = {"lambda": 0.001, "dropout": 0.2, "hidden_layers": [8, 4]}
    body = {
        "name": "mlp-run",
        "dataset": {"builtin": "diabetes"},
        "model": {"kind": "mlp"},
        "search_space": {
            "lambda": {"low": 1e-4, "high": 1.0, "log": True},
            "dropout": {"low": 0.0, "high": 0.5},
            "hidden_layers": {"choices": [[8], [8, 4]]},
        },
        "training": {"max_epochs": 2},
        "sampler": {"type": "tpe", "seed": 0, "points_to_evaluate": [point]},
        "budget": {"n_trials": 3},
    }
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    study = run_to_the_end(api, created.json()["id"])
    assert study["status"] == "completed" and study["progress"]["done"] == 3, study
    first = trials_of(api, study["id"])[0]
    assert first["user_attrs"][POINT] == 0
    assert first["params"]["lambda"] == 0.001 and first["params"]["dropout"] == 0.2
    assert first["params"]["hidden_layers"] == "8-4"
    listed = cli_output(api, monkeypatch, "trials", study["id"])  # says which trial it was
    assert "0 (point 0)" in listed and "(point 1)" not in listed, listed


def test_a_best_trial_that_ran_a_point_says_so_in_show_and_the_report(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every trial is a point, so the best is one: ``regtune show`` and the study report say
    which point it ran, as ``regtune trials`` does."""
    api = apps()
    body = definition("all-points", 2)
    body["sampler"] = body["sampler"] | {"points_to_evaluate": [{"lambda": 0.05}, {"lambda": 0.5}]}
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    study = run_to_the_end(api, created.json()["id"])
    best = study["best_trial"]
    assert study["status"] == "completed" and best["user_attrs"][POINT] == best["number"], study
    shown = cli_output(api, monkeypatch, "show", study["id"])
    assert f"best trial #{best['number']} (point {best['number']}):" in shown, shown
    report = api.get(f"/v1/studies/{study['id']}/report").text
    said = f"Trial {best['number']} (point {best['number']} of <code>sampler.points_to_evaluate"
    assert said in report


def test_points_run_first_in_their_order_on_either_backend(apps: Apps, database_url: str) -> None:
    """One trial at a time (no λ path): the points are trials 0 and 1, as given, then the
    sampler's; the budget counts them all."""
    api = apps(database_url=database_url)
    points = [{"lambda": 0.05}, {"lambda": 0.5}]
    body = definition("in-order", 4)
    body["sampler"] = body["sampler"] | {"points_to_evaluate": points}
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    study = run_to_the_end(api, created.json()["id"])
    assert study["status"] == "completed" and study["progress"]["done"] == 4, study
    trials = trials_of(api, study["id"])
    assert [t["params"]["lambda"] for t in trials[:2]] == [0.05, 0.5]
    assert [t["user_attrs"].get(POINT) for t in trials] == [0, 1, None, None]
