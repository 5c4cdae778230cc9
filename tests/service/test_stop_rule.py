"""Study stopping rules (``budget.stop``): a goal value the best trial reaches, or trials in a
row that do not improve the best (Katib's ``objective.goal``, hyperopt's ``no_progress_loss``,
Ray Tune's plateau stoppers). Was: a study always ran its whole ``budget.n_trials``. Met, the
rule stops the study as a passed deadline does: no trial starts, those running finish and
count, and the study completes with its best model saved. Extended, a study its rule stopped
opens again with its patience counted anew; one whose best already reaches its goal is refused.

Fast and in-process: the app under ``TestClient``, a worker thread runs each study one trial at
a time, so its trials finish in their numbers' order. A first study without a rule gives the
values its trials reach (the random sampler, seed 0, draws the same trials for the same
definition); the rules are then checked against those values.
"""

from __future__ import annotations

import math
from typing import Any

import optuna
import pytest
from fastapi.testclient import TestClient
from optuna.trial import TrialState
from sqlalchemy import inspect, text, update

from regtune.service.store.clock import utcnow
from regtune.service.store.db import make_engine
from regtune.service.store.migrate import upgrade
from regtune.service.store.tables import StudyRow
from tests.inprocess import Apps, cli_output, run_to_the_end, worker_thread
from tests.service.test_rest_contract import definition
from tests.service.test_schema_privileges import _downgrade
from tests.service.test_study_end import text_of

N_TRIALS = 12
RULE_COLUMNS = {"best_value", "best_trial", "best_at", "stopped_by"}


def done(study: dict[str, Any]) -> int:
    return int(study["counts"]["COMPLETE"] + study["counts"]["PRUNED"])


def body(name: str, n_trials: int = N_TRIALS, **stop: Any) -> dict[str, Any]:
    """The linear study of the other tests, unpruned (every trial COMPLETE), with ``stop``."""
    made = definition(name, n_trials) | {"pruner": {"type": "none"}}
    if stop:
        made["budget"] = made["budget"] | {"stop": stop}
    return made


def values_of(api: TestClient, study_id: str) -> list[float]:
    """The study's trial values by trial number."""
    trials = api.get(f"/v1/studies/{study_id}/trials", params={"limit": 100}).json()["items"]
    ordered = sorted(trials, key=lambda t: t["number"])
    assert all(t["state"] == "COMPLETE" for t in ordered), ordered
    return [t["value"] for t in ordered]


def reference(api: TestClient, n_trials: int = N_TRIALS) -> list[float]:
    """The values (val_loss, minimized) the study's trials reach, by number, when it has no
    rule."""
    study = run_to_the_end(
        api, api.post("/v1/studies", json=body("reference", n_trials)).json()["id"]
    )
    assert done(study) == n_trials, study
    return values_of(api, study["id"])


def goal_of(values: list[float]) -> tuple[float, int]:
    """A goal the best of the first six trials reaches and none before it: (goal, that
    trial's number), the goal halfway to the best value before it (the same trials' values
    differ from run to run in their last digits)."""
    reached = values.index(min(values[:6]))
    assert 0 < reached < N_TRIALS - 1, values
    return (values[reached] + min(values[:reached])) / 2, reached


def patience_stop(
    values: list[float], patience: int, min_delta: float, *, start: int = 0
) -> tuple[int, float, int] | None:
    """Where a patience rule stops a minimized study whose trials reach ``values`` in order,
    counting from trial ``start`` on (an extension): (trials done, best value, its trial), or
    None if it does not."""
    best = min(values[:start], default=math.inf)
    best_at = start
    for n, value in enumerate(values[start:], start=start + 1):
        if best - value > min_delta:
            best_at = n
        best = min(best, value)
        if n - best_at >= patience:
            return n, best, values.index(best)
    return None


def said(api: TestClient, monkeypatch: pytest.MonkeyPatch, study: dict[str, Any]) -> str:
    """``regtune show``'s end line and the report's, which must say what the API says."""
    report = api.get(f"/v1/studies/{study['id']}/report").text
    assert text_of(report, "end") == f"Ended: {study['end']['message']}.", text_of(report, "end")
    return cli_output(api, monkeypatch, "show", study["id"])


def test_a_study_whose_best_value_reaches_stop_value_completes_with_fewer_trials(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = reference(api)
    goal, reached = goal_of(values)

    created = api.post("/v1/studies", json=body("goal", value=goal)).json()
    study = run_to_the_end(api, created["id"])
    assert study["status"] == "completed" and done(study) == reached + 1, study
    value = study["best_trial"]["value"]
    message = (
        f"budget.stop.value {goal:g} reached by trial #{reached} ({value:g}): the "
        f"study completed with {reached + 1} of budget.n_trials {N_TRIALS} trials"
    )
    assert study["end"]["reason"] == "stop_value", study["end"]
    assert study["end"]["message"] == message, study["end"]
    assert study["best_trial"]["number"] == reached
    assert study["best_model"]["trial"] == reached, study["best_model"]
    assert f"ended: {message}" in " ".join(said(api, monkeypatch, study).split())


def test_a_study_stops_once_patience_trials_in_a_row_did_not_improve_its_best_value(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``min_delta`` counts: an improvement of no more than it does not reset the patience."""
    values = reference(api)
    for patience, min_delta in ((3, 0.0), (2, 1e-4)):
        expected = patience_stop(values, patience, min_delta)
        assert expected is not None and expected[0] < N_TRIALS, (patience, values)
        n, best, number = expected
        rule: dict[str, Any] = {"patience": patience, "min_delta": min_delta}
        created = api.post("/v1/studies", json=body(f"patience-{patience}", **rule)).json()
        study = run_to_the_end(api, created["id"])
        assert study["status"] == "completed" and done(study) == n, (study, expected)
        message = (
            f"budget.stop.patience: {patience} trials in a row did not improve the best value "
            f"({best:g}, trial #{number}) by more than budget.stop.min_delta {min_delta:g}: the "
            f"study completed with {n} of budget.n_trials {N_TRIALS} trials"
        )
        assert study["end"]["reason"] == "stop_patience", study["end"]
        assert study["end"]["message"] == message, study["end"]
        assert study["best_model"]["trial"] == number, study["best_model"]
    assert f"ended: {message}" in " ".join(said(api, monkeypatch, study).split())


def test_a_running_study_shows_where_its_rule_stands(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``progress.stop``: the best value the rule compares and the trials since it improved
    (what ``patience`` counts), shown by ``regtune show`` and the watch line while the study
    runs (was: nothing told how near a study was to stopping); null without a rule."""
    from regtune.service.api.schemas.studies import StudyOut
    from regtune.service.client.watch import line

    values = reference(api)
    ran, patience = 4, 8
    best_at = max(n for n in range(1, ran + 1) if values[n - 1] < min(values[: n - 1], default=1e9))
    created = api.post("/v1/studies", json=body("standing", patience=patience)).json()
    assert created["progress"]["stop"] == {
        "best_value": None,
        "since_improvement": 0,
        "stopped_by": None,
    }
    with worker_thread(max_trials=ran) as worker:
        worker.ended()
    fresh = {"Cache-Control": "no-cache"}
    study = api.get(f"/v1/studies/{created['id']}", headers=fresh).json()
    assert study["status"] == "running" and done(study) == ran, study
    standing = study["progress"]["stop"]
    assert standing["best_value"] == pytest.approx(min(values[:ran]), rel=1e-4), standing
    assert (standing["since_improvement"], standing["stopped_by"]) == (ran - best_at, None)
    shown = f"patience {ran - best_at}/{patience}"
    assert f"stop rule: {shown}" in cli_output(api, monkeypatch, "show", created["id"])
    assert f" · {shown} · running" in line(StudyOut.model_validate(study)), line(
        StudyOut.model_validate(study)
    )

    reference_study = api.get("/v1/studies", params={"name": "reference"}).json()["items"][0]
    without = api.get(f"/v1/studies/{reference_study['id']}").json()
    assert without["progress"]["stop"] is None, without["progress"]


def test_a_study_without_a_rule_runs_its_whole_budget_and_stores_no_rule(api: TestClient) -> None:
    created = api.post("/v1/studies", json=body("no-rule", 3)).json()
    assert "stop" not in created["definition"]["budget"], created["definition"]["budget"]
    study = run_to_the_end(api, created["id"])
    assert done(study) == 3 and study["end"]["reason"] == "n_trials", study


def test_a_lambda_path_study_stops_by_patience_with_every_point_of_its_paths_counted(
    api: TestClient,
) -> None:
    """A path's points are written in one batch: the rule follows them in order, and the path
    that met it still writes all it solved (nothing is lost), then the study completes."""
    path = definition("path", 60) | {
        "training": {"lambda_path": {"points": 6, "patience": None}},
        "pruner": {"type": "none"},
    }
    path["budget"] = path["budget"] | {"stop": {"patience": 4}}
    study = run_to_the_end(api, api.post("/v1/studies", json=path).json()["id"])
    assert study["status"] == "completed", study
    assert study["end"]["reason"] == "stop_patience", study["end"]
    assert done(study) < 60 and done(study) % 6 == 0, study  # whole paths, fewer than 10
    assert study["counts"]["RUNNING"] == study["counts"]["WAITING"] == 0, study
    best = study["best_trial"]
    assert f"({best['value']:g}, trial #{best['number']})" in study["end"]["message"], study
    assert study["best_model"]["trial"] == best["number"], study


def test_a_fused_pass_that_meets_the_rule_finishes_every_member_and_counts_them(
    api: TestClient,
) -> None:
    """Patience 1 with a ``min_delta`` no trial beats: the second finish of the first pass of
    4 members stops the study; the other members finish and count, and no pass follows."""
    from tests.worker.test_fused_trials import mlp_study

    fused = mlp_study("fused", 12, fused_trials=4)
    fused["budget"] = fused["budget"] | {"stop": {"patience": 1, "min_delta": 100.0}}
    study = run_to_the_end(api, api.post("/v1/studies", json=fused).json()["id"])
    assert study["status"] == "completed" and done(study) == 4, study
    assert study["end"]["reason"] == "stop_patience", study["end"]
    assert study["counts"]["RUNNING"] == study["counts"]["FAIL"] == 0, study
    assert study["best_model"] is not None


def test_a_study_its_patience_stopped_extended_opens_again_and_counts_its_patience_anew(
    api: TestClient,
) -> None:
    values = reference(api, 2 * N_TRIALS)
    first = patience_stop(values, 3, 0.0)
    assert first is not None
    stopped = run_to_the_end(
        api, api.post("/v1/studies", json=body("again", patience=3)).json()["id"]
    )
    assert stopped["end"]["reason"] == "stop_patience" and done(stopped) == first[0], stopped

    extended = api.post(f"/v1/studies/{stopped['id']}/extend", json={"n_trials": N_TRIALS})
    assert extended.status_code == 200, extended.text
    assert extended.json()["reopened"] is True
    assert extended.json()["study"]["status"] == "queued", extended.json()["study"]
    again = run_to_the_end(api, stopped["id"])
    assert again["status"] == "completed", again
    # counted from the extension, not from the old best's trial (which would stop it at once)
    later = patience_stop(values, 3, 0.0, start=first[0])
    assert later is not None and later[0] < first[0] + N_TRIALS, (first, values)
    assert done(again) == later[0] and again["end"]["reason"] == "stop_patience", again
    best = again["best_trial"]
    assert best["number"] == later[2], (best, later)
    assert f"({best['value']:g}, trial #{later[2]})" in again["end"]["message"], again["end"]


def test_a_study_whose_best_value_reaches_its_goal_is_not_extended_and_says_why(
    api: TestClient,
) -> None:
    goal, _ = goal_of(reference(api))
    created = api.post("/v1/studies", json=body("reached", value=goal)).json()
    study = run_to_the_end(api, created["id"])
    assert study["end"]["reason"] == "stop_value", study

    refused = api.post(f"/v1/studies/{study['id']}/extend", json={"n_trials": 5})
    assert refused.status_code == 409, refused.text
    message = refused.json()["error"]["message"]
    best = study["best_trial"]
    assert (
        f"its best value {best['value']:g} (trial #{best['number']}) already reaches "
        f"budget.stop.value {goal:g}" in message
    ), message
    assert "submit a new study with another goal" in message, message
    after = api.get(f"/v1/studies/{study['id']}").json()
    assert (after["status"], after["progress"]["n_trials"]) == ("completed", N_TRIALS), after

    # a total it has already is the answer to a repeated request: unchanged, not refused
    repeated = api.post(f"/v1/studies/{study['id']}/extend", json={"n_trials_total": N_TRIALS})
    assert repeated.status_code == 200, repeated.text
    assert (repeated.json()["extended"], repeated.json()["study"]["status"]) == (False, "completed")


def test_an_extension_of_the_row_read_before_a_finish_stopped_the_study_is_not_lost(
    apps: Apps, database_url: str
) -> None:
    """The extension's one UPDATE matches the row only as it read it, its stop rule's mark
    too: had a finish stopped the study in between (its trials still running), the extension
    matches nothing (it did not grow a stopped study, which would then complete short of it)
    and, read again, the study whose best reached its goal is refused; on both backends."""
    from regtune.service.errors import StudyNotExtendable
    from regtune.service.store.repos import extension, studies

    api = apps(database_url=database_url)
    study_id = api.post("/v1/studies", json=body("raced", value=0.1)).json()["id"]
    as_read = studies.read_row_now(study_id)
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:  # what a finish that met the goal writes
            connection.execute(
                update(StudyRow)
                .where(StudyRow.id == study_id)
                .values(stopped_by="value", best_value=0.05, best_trial=0, n_running=1)
            )
    finally:
        engine.dispose()
    assert not extension._grew(as_read, n_trials=3, timeout_s=None, now=utcnow(), engine=None)
    with pytest.raises(StudyNotExtendable, match=r"already reaches budget\.stop\.value 0\.1"):
        extension.extend(study_id, n_trials=3)
    assert studies.read_row_now(study_id).n_trials == N_TRIALS


def test_a_stopped_study_takes_no_claim_while_its_running_trials_finish_and_count(
    database_url: str,
) -> None:
    """As a passed deadline: the finish that meets the goal stops the claims, the trial still
    running finishes and counts (its better value too), and the finish of the last one
    completes the study (that worker saves the best model); on both backends."""
    from regtune.service.api.study_end import study_end
    from regtune.service.spec.definition import StudySpec
    from regtune.service.store.db import transaction
    from regtune.service.store.repos.study_creation import create_study
    from regtune.service.store.scheduling.claims import stopping
    from regtune.service.store.scheduling.claims.finishing import Stopping, finish
    from regtune.service.store.scheduling.claims.taking import claim
    from regtune.service.store.scheduling.retries import storage_with_retries

    upgrade(database_url)
    engine, storage = make_engine(database_url), storage_with_retries(database_url)
    try:
        spec = StudySpec.model_validate(
            body("drained", 10)
            | {"budget": {"n_trials": 10, "max_parallel": 3, "stop": {"value": 0.5}}}
        )
        row = create_study(spec, engine=engine, storage=storage)
        rule = stopping.Rule.of(row.spec)
        assert rule is not None
        study = optuna.load_study(study_name=row.optuna_name, storage=storage)
        first, second = claim(engine=engine, worker_id="w"), claim(engine=engine, worker_id="w")
        assert first is not None and second is not None

        def read_row_now(study_id: str) -> StudyRow:
            with transaction(engine) as session:
                found = session.get(StudyRow, study_id)
            assert found is not None
            return found

        def tell(slot: Any, value: float) -> bool:
            trial = study.ask()
            study.tell(trial, value)
            told = stopping.Finished(TrialState.COMPLETE, value, trial.number)
            return finish(
                engine, claim_id=slot.id, study_id=row.id, seq=slot.seq, stop=Stopping(rule, told)
            )

        assert tell(first, 0.4) is False  # the goal is met; the second trial still runs
        stopped = read_row_now(row.id)
        assert (stopped.status, stopped.stopped_by, stopped.n_running) == ("running", "value", 1)
        assert claim(engine=engine, worker_id="w") is None, "no trial starts once it stopped"
        assert tell(second, 0.3) is True  # the last slot given back: this finish completes it
        ended = read_row_now(row.id)
        assert (ended.status, ended.n_done, ended.best_value, ended.best_trial) == (
            "completed",
            2,
            0.3,
            1,
        )
        end = study_end(ended)
        assert end is not None and end.reason == "stop_value"
        assert end.message == (
            "budget.stop.value 0.5 reached by trial #1 (0.3): the study completed with 2 of "
            "budget.n_trials 10 trials"
        )
    finally:
        engine.dispose()
        storage.engine.dispose()


def test_the_migration_adds_the_rule_s_columns_and_takes_them_away_again(
    database_url: str,
) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)

    def columns() -> set[str]:
        with engine.connect() as connection:
            found = {c["name"] for c in inspect(connection).get_columns("regtune_studies")}
        return found & RULE_COLUMNS

    try:
        assert columns() == RULE_COLUMNS
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO regtune_studies (id, tenant, name, optuna_name, spec, status, "
                    "n_trials, max_parallel, n_running, n_done, max_retries, n_claims, n_errors, "
                    "created_at, updated_at) VALUES ('s1', 'default', 'old', 'old', '{}', "
                    "'running', 5, 1, 0, 2, 2, 0, 0, :now, :now)"
                ),
                {"now": utcnow()},
            )
        _downgrade(database_url, "0005")
        assert columns() == set()
        upgrade(database_url)
        assert columns() == RULE_COLUMNS
        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT best_value, best_at, stopped_by, n_done FROM regtune_studies")
            ).one()
        assert tuple(row) == (None, 0, None, 2)  # a study in flight: no rule, nothing stopped
    finally:
        engine.dispose()


def test_a_patience_stop_whose_best_a_later_point_improved_says_so(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rule meets partway through a λ path, whose later points, written in the same batch,
    improve the best. The end said "15 trials in a row did not improve the best value (…,
    trial #61)" with trial #61 the 14th from the end: the best the row holds now, not the one
    the rule saw. It says a trial running then improved it later."""
    late = {
        "name": "late-best",
        "dataset": {"builtin": "diabetes"},
        "model": {"kind": "linear"},
        "objective": {"metric": "val_r2"},
        "sampler": {"type": "random", "seed": 3},
        "budget": {"n_trials": 200, "stop": {"patience": 15}},
    }
    study = run_to_the_end(api, api.post("/v1/studies", json=late).json()["id"])
    assert study["end"]["reason"] == "stop_patience", study["end"]
    standing = study["progress"]["stop"]
    assert standing["since_improvement"] < 15, standing  # the case: the best moved after
    message = study["end"]["message"]
    assert message.startswith(
        "budget.stop.patience: 15 trials in a row did not improve the best value by more than "
        "budget.stop.min_delta 0; a trial running then improved it later "
        f"({standing['best_value']:g}, trial #"
    ), message
    assert f"the study completed with {done(study)} of budget.n_trials 200" in message
    assert f"ended: {message}" in " ".join(said(api, monkeypatch, study).split())
