"""Points given to an extension (``POST /v1/studies/{id}/extend`` with ``points_to_evaluate``,
``regtune extend ID --point '{lambda: 0.01}'``): configurations a study runs next, as Optuna's
``enqueue_trial`` before ``optimize`` is called again (was: only a definition could give points,
so a configuration worth trying once a study had run needed a new study).

Each point is a trial of the grown budget (alone, the points grow it by one each, by a path's
points for one that leaves λ out in a λ-path study), appended to
the definition's ``sampler.points_to_evaluate`` (its position marks the trial, ``regtune:point``)
and queued in the transaction that grows the budget. A point the space does not admit, or more
points than the budget grows by, is a 422 naming the point, with nothing changed.
"""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from fastapi.testclient import TestClient
from optuna.distributions import BaseDistribution, FloatDistribution
from optuna.trial import TrialState

from regtune.service.errors import Conflict
from regtune.service.store.optuna_db.internals.handles import trial_id_of
from regtune.service.store.repos import extension
from regtune.service.store.scheduling.claims import links, taking
from regtune.service.store.scheduling.claims.finishing import finish
from regtune.service.store.scheduling.claims.slot import Claim
from regtune.service.store.scheduling.retries import get_storage
from regtune.worker.paths import PathSlots
from tests.inprocess import (
    Apps,
    cli_output,
    cli_result,
    run_to_the_end,
    wait_for_the_end,
    worker_thread,
)
from tests.service.test_extend import done, extend
from tests.service.test_points_to_evaluate import PATH_OF, optuna_trials, trials_of, with_points
from tests.service.test_rest_contract import definition

POINT = "regtune:point"


def with_point(name: str, n_trials: int, *points: dict[str, Any]) -> dict[str, Any]:
    body = definition(name, n_trials)
    if points:
        body["sampler"] = body["sampler"] | {"points_to_evaluate": list(points)}
    return body


def test_an_extensions_points_run_next_and_count_in_the_grown_budget(
    apps: Apps, database_url: str
) -> None:
    """On both backends: a completed study with a point of its own, extended by two points
    alone (the budget grows by two), then by three trials and one point."""
    api = apps(database_url=database_url)
    created = api.post("/v1/studies", json=with_point("grown-points", 2, {"lambda": 0.05}))
    first = run_to_the_end(api, created.json()["id"])
    assert first["status"] == "completed" and done(first) == 2, first

    extended = extend(api, first["id"], points_to_evaluate=[{"lambda": 0.5}, {"lambda": 0.005}])
    assert (extended["n_trials_before"], extended["reopened"]) == (2, True), extended
    sampler = extended["study"]["definition"]["sampler"]
    assert sampler["points_to_evaluate"] == [{"lambda": 0.05}, {"lambda": 0.5}, {"lambda": 0.005}]
    assert extended["study"]["progress"]["n_trials"] == 4
    more = extend(api, first["id"], n_trials=3, points_to_evaluate=[{"lambda": 0.0002}])
    assert more["study"]["progress"]["n_trials"] == 7, more

    study = run_to_the_end(api, first["id"])
    assert study["status"] == "completed" and done(study) == 7, study
    trials = trials_of(api, study["id"])
    assert [t["user_attrs"].get(POINT) for t in trials] == [0, None, 1, 2, 3, None, None]
    assert [t["params"]["lambda"] for t in trials[2:5]] == [0.5, 0.005, 0.0002]


def test_points_given_to_a_queued_study_run_after_its_own(apps: Apps) -> None:
    api = apps()
    study_id = api.post("/v1/studies", json=with_point("queued-points", 2, {"lambda": 0.05}))
    extended = extend(api, study_id.json()["id"], points_to_evaluate=[{"lambda": 0.5}])
    assert extended["reopened"] is False and extended["study"]["status"] == "queued", extended
    study = run_to_the_end(api, extended["study"]["id"])
    trials = trials_of(api, study["id"])
    assert [(t["user_attrs"].get(POINT), t["params"]["lambda"]) for t in trials[:2]] == [
        (0, 0.05),
        (1, 0.5),
    ]
    assert done(study) == 3 and [t["user_attrs"].get(POINT) for t in trials[2:]] == [None]


def test_a_worker_that_ran_a_path_study_runs_an_extensions_lambda_as_one_trial(apps: Apps) -> None:
    """The worker that ran the study before the extension parsed its definition then: the
    grown one, whose points say the λ point is one trial, not a path through it, is read anew
    (so is the budget that sizes its paths)."""
    api = apps()
    body = with_points([{"l1_ratio": 0.75}])
    del body["training"]  # λ paths, the default
    body["budget"] = {"n_trials": 8}
    study_id = api.post("/v1/studies", json=body).json()["id"]
    with worker_thread():
        assert wait_for_the_end(api, study_id)["status"] == "completed"
        point = {"lambda": 0.0123, "l1_ratio": 0.25}  # with room for a path after it
        extend(api, study_id, n_trials=4, points_to_evaluate=[point])
        study = wait_for_the_end(api, study_id)
    assert study["status"] == "completed" and done(study) == 12, study
    trials = optuna_trials(api, study_id)
    ran = next(t for t in trials if t.user_attrs.get(POINT) == 1)
    assert (ran.params["lambda"], ran.params["l1_ratio"]) == (0.0123, 0.25), ran.params
    assert [t for t in trials if t.system_attrs.get(PATH_OF) == ran.number] == []  # no path


def test_an_extensions_point_without_lambda_runs_a_path_at_its_other_knobs(apps: Apps) -> None:
    """In a λ-path study an extension's point that leaves λ out is a path, as a definition's
    is: alone it grows the budget by a path's points (5 of a 40-trial study) and runs them at
    its l1_ratio (was: the budget grew by one, and the point ran one trial, λ the sampler's)."""
    api = apps()
    body = with_points([{"lambda": 0.0123, "l1_ratio": 0.25}])
    del body["training"]  # λ paths, the default
    body["budget"] = {"n_trials": 40}
    study_id = api.post("/v1/studies", json=body).json()["id"]
    with worker_thread():
        assert wait_for_the_end(api, study_id)["status"] == "completed"
        extended = extend(api, study_id, points_to_evaluate=[{"l1_ratio": 0.0}])
        assert extended["study"]["progress"]["n_trials"] == 45, extended
        study = wait_for_the_end(api, study_id)
    assert study["status"] == "completed" and done(study) == 45, study
    trials = optuna_trials(api, study_id)
    ran = next(t for t in trials if t.user_attrs.get(POINT) == 1)
    path = [ran, *(t for t in trials if t.system_attrs.get(PATH_OF) == ran.number)]
    assert len(path) == 5, [t.params for t in path]
    assert {t.params["l1_ratio"] for t in path} == {0.0}
    assert len({(t.params["lambda"], t.params["relax"]) for t in path}) == 5


def test_a_point_queued_as_a_path_starts_keeps_its_slot_from_the_path(
    apps: Apps, database_url: str
) -> None:
    """On both backends, two workers and an extension in the order a user met once in some 50
    runs: worker A claims a λ path's trial, B a trial before the point exists, the point is
    queued (the budget grows by its one trial), then A reserves its path's further slots. The
    path leaves the point's slot, A's trial runs alone, and the next claim runs the point (was:
    the path took that slot, the study completed with its last point, and the sweep failed the
    point's trial "not run: the study was completed before it started")."""
    api = apps(database_url=database_url)
    body = definition("raced-path-point", 2)
    del body["training"]  # λ paths, the default
    body["budget"] = {"n_trials": 2, "max_parallel": 2}
    study_id = api.post("/v1/studies", json=body).json()["id"]
    storage = get_storage()
    lam: dict[str, BaseDistribution] = {"lambda": FloatDistribution(1e-4, 1.0, log=True)}

    def started(worker_id: str) -> tuple[Claim, optuna.Trial]:
        taken = taking.claim(worker_id=worker_id)
        assert taken is not None
        trial = optuna.load_study(study_name=taken.optuna_name, storage=storage).ask(lam)
        assert links.link_trial(storage, trial_id_of(trial), taken)
        return taken, trial

    path_claim, path_trial = started("worker-a")
    other_claim, other_trial = started("worker-b")  # a fresh trial: no point yet
    extended = extend(api, study_id, points_to_evaluate=[{"lambda": 0.003}])
    assert extended["study"]["progress"]["n_trials"] == 3, extended
    further = PathSlots(claim=path_claim, worker_id="worker-a").take(path_trial, 7)
    assert further == []  # the one slot left is the point's: the path runs as one trial
    for taken, trial in ((path_claim, path_trial), (other_claim, other_trial)):
        # worse than any fit, so the best model is one the worker below trains
        storage.set_trial_state_values(trial_id_of(trial), TrialState.COMPLETE, [1e6])
        finish(claim_id=taken.id, study_id=study_id, seq=taken.seq)

    study = run_to_the_end(api, study_id)
    assert study["status"] == "completed" and done(study) == 3, study
    trials = optuna.load_study(study_name=study["optuna_study_name"], storage=storage).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3, trials
    point = next(t for t in trials if t.user_attrs.get(POINT) == 0)
    assert point.params["lambda"] == 0.003 and PATH_OF not in point.system_attrs


@pytest.mark.parametrize(
    ("body", "path", "rule"),
    [
        ({"points_to_evaluate": [{"lambda": 20}]}, "points_to_evaluate.0.lambda", "within the"),
        (
            {"points_to_evaluate": [{"lambda": 0.1}, {"l1_ratio": 0.3}]},
            "points_to_evaluate.1.l1_ratio",
            "fixed at 0.5 by search_space.l1_ratio",
        ),
        ({"points_to_evaluate": [{}]}, "points_to_evaluate.0", "at least one searched"),
        ({"points_to_evaluate": []}, "points_to_evaluate", "at least 1 item"),
        (
            {"n_trials": 1, "points_to_evaluate": [{"lambda": 0.1}, {"lambda": 0.2}]},
            "points_to_evaluate",
            "2 points but the budget grows by 1: each point is a trial of the budget",
        ),
        (
            {"n_trials_total": 3, "points_to_evaluate": [{"lambda": 0.1}, {"lambda": 0.2}]},
            "points_to_evaluate",
            "2 points but the budget grows by 1",
        ),
        ({"points_to_evaluate": {"lambda": 0.1}}, "points_to_evaluate", "valid list"),
    ],
)
def test_a_point_the_study_cannot_run_is_a_422_naming_it_and_changes_nothing(
    api: TestClient, body: dict[str, Any], path: str, rule: str
) -> None:
    study_id = api.post("/v1/studies", json=definition("kept-points", 2)).json()["id"]
    refused = api.post(f"/v1/studies/{study_id}/extend", json=body)
    assert refused.status_code == 422, refused.text
    fields = refused.json()["error"]["fields"]
    assert [f["path"] for f in fields] == [path], fields
    assert rule in fields[0]["rule"], fields
    study = api.get(f"/v1/studies/{study_id}").json()
    assert study["progress"]["n_trials"] == 2, study
    assert "points_to_evaluate" not in study["definition"]["sampler"], study["definition"]
    assert api.get(f"/v1/studies/{study_id}/trials").json()["items"] == []  # nothing queued


def test_the_grid_sampler_takes_no_points_from_an_extension(api: TestClient) -> None:
    space = {"lambda": {"choices": [0.01, 0.1]}, "l1_ratio": 0.5}
    body = definition("grid-points", 2) | {"search_space": space}
    body["sampler"] = {"type": "grid"}
    study_id = api.post("/v1/studies", json=body).json()["id"]
    refused = api.post(
        f"/v1/studies/{study_id}/extend", json={"points_to_evaluate": [{"lambda": 0.1}]}
    )
    assert refused.status_code == 422, refused.text
    fields = refused.json()["error"]["fields"]
    assert fields[0]["path"] == "points_to_evaluate", fields
    assert "the grid sampler walks its grid" in fields[0]["rule"], fields


def test_a_total_budget_asked_again_queues_its_points_once(api: TestClient) -> None:
    """``n_trials_total`` can be repeated: the second request changes nothing, points included."""
    study_id = api.post("/v1/studies", json=definition("total-points", 2)).json()["id"]
    body = {"n_trials_total": 3, "points_to_evaluate": [{"lambda": 0.5}]}
    assert extend(api, study_id, **body)["extended"] is True
    again = extend(api, study_id, **body)
    assert again["extended"] is False, again
    assert again["study"]["definition"]["sampler"]["points_to_evaluate"] == [{"lambda": 0.5}]
    study = run_to_the_end(api, study_id)
    trials = trials_of(api, study_id)
    assert done(study) == 3 and [t["user_attrs"].get(POINT) for t in trials] == [0, None, None]


def test_the_store_refuses_points_another_extension_left_no_room_for(api: TestClient) -> None:
    """Between the API's check and the store's UPDATE another extension may have grown the
    budget: ``n_trials_total`` then grows it by less than the points given, a 409."""
    study_id = api.post("/v1/studies", json=definition("raced-points", 2)).json()["id"]
    extend(api, study_id, n_trials=1)  # landed after the API read budget 2
    with pytest.raises(Conflict, match="grows it by 1, fewer than its 2 points"):
        extension.extend(
            study_id, n_trials_total=4, points=[{"lambda": 0.1}, {"lambda": 0.2}], tenant=None
        )
    assert api.get(f"/v1/studies/{study_id}").json()["progress"]["n_trials"] == 3


def test_extend_point_says_what_it_queued(api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    study_id = api.post("/v1/studies", json=definition("cli-points", 2)).json()["id"]
    points = ("--point", "{lambda: 0.5}", "--point", "{lambda: 5e-2}")  # YAML 1.2's numbers
    said = cli_output(api, monkeypatch, "extend", study_id, *points)
    assert said == (
        f"study {study_id} extended: budget.n_trials 2 → 4, 2 points queued first, still queued"
    ), said
    listed = api.get(f"/v1/studies/{study_id}").json()["definition"]["sampler"]
    assert listed["points_to_evaluate"] == [{"lambda": 0.5}, {"lambda": 0.05}]
    for given in ("lambda", "[0.5]", "{lambda: [0.5", "{lambda: 1, lambda: 2}"):
        wrong = cli_result(api, monkeypatch, "extend", study_id, "--point", given)
        assert wrong.exit_code == 2, wrong.output
        assert "--point" in wrong.output, wrong.output
    refused = cli_result(api, monkeypatch, "extend", study_id, "--point", "{lambda: 20}")
    assert refused.exit_code == 1, refused.output
    assert "points_to_evaluate.0.lambda" in refused.output, refused.output
