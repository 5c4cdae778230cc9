"""``objective.relax_margin``: a relaxed trial is the study's best only when it beats the best
unrelaxed trial by more than the margin, in standard errors of their differences across the
same folds; set to 0.5 when a study searching relax under k folds is created."""

from __future__ import annotations

import math
import statistics
import uuid
from typing import Any, Literal

import optuna
import pytest
from fastapi.testclient import TestClient
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from regtune.service.spec.resolve import RELAX_MARGIN
from regtune.service.store.db import make_engine, transaction
from regtune.service.store.migrate import upgrade
from regtune.service.store.scheduling.retries import storage_with_retries
from regtune.service.store.trials.relax_margin import relax_margin_choice
from regtune.service.store.trials.selection import chosen_trial_number
from regtune.service.store.trials.views import study_reads
from tests.inprocess import Apps, cli_output
from tests.service.optuna_studies import directed_study

optuna.logging.set_verbosity(optuna.logging.WARNING)
PLAIN_FOLDS = [1.0, 1.2, 0.9, 1.1, 0.8]  # mean 1.0
NOISE = [0.02, -0.03, 0.01, -0.02, 0.02]
"""Paired differences whose mean is 0: a relaxed trial that only moves with the folds' noise."""


def _add(
    study: optuna.Study,
    relax: float,
    folds: list[float] | None,
    *,
    sign: float = 1.0,
    value: float | None = None,
    **attrs: Any,
) -> int:
    mean = statistics.fmean(folds) if folds else value
    assert mean is not None
    study.add_trial(
        create_trial(
            state=TrialState.COMPLETE,
            value=sign * mean,
            params={"lambda": 0.01, "relax": relax},
            distributions={
                "lambda": FloatDistribution(1e-5, 10.0, log=True),
                "relax": FloatDistribution(0.0, 0.8),
            },
            user_attrs={**attrs, **({"fold_values": [sign * v for v in folds]} if folds else {})},
        )
    )
    return len(study.trials) - 1


def _shifted(folds: list[float], by: float, noise: list[float] = NOISE) -> list[float]:
    return [v + by + n for v, n in zip(folds, noise, strict=True)]


def _paired_se(a: list[float], b: list[float]) -> float:
    differences = [x - y for x, y in zip(a, b, strict=True)]
    return statistics.stdev(differences) / math.sqrt(len(differences))


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_a_relaxed_best_within_the_margin_gives_way_to_the_best_unrelaxed_trial(
    database_url: str, direction: Literal["minimize", "maximize"]
) -> None:
    engine, study, sign = directed_study(database_url, direction)
    plain = _add(study, 0.0, PLAIN_FOLDS, sign=sign)  # 0: the best unrelaxed trial
    _add(study, 0.0, _shifted(PLAIN_FOLDS, 0.05), sign=sign)  # 1: a worse unrelaxed one
    se = _paired_se(_shifted(PLAIN_FOLDS, -0.003), PLAIN_FOLDS)
    relaxed = _add(study, 0.8, _shifted(PLAIN_FOLDS, -0.003), sign=sign)  # 2: better by 0.003
    _add(study, 0.4, None, sign=sign, value=0.5, feasible=False)  # 3: the best value, infeasible
    assert RELAX_MARGIN * se > 0.003  # within the margin
    osid, key = study._study_id, uuid.uuid4().hex
    with transaction(engine) as session:
        assert chosen_trial_number(session, osid, direction, "best") == relaxed
        assert chosen_trial_number(session, osid, direction, "best", 0.0) == relaxed
        assert chosen_trial_number(session, osid, direction, "best", RELAX_MARGIN) == plain
        choice = relax_margin_choice(session, osid, direction, relaxed, RELAX_MARGIN)
        assert (choice.number, choice.best_number, choice.unrelaxed) == (plain, relaxed, plain)
        assert choice.gain == pytest.approx(0.003) and choice.se == pytest.approx(se)
        _, view, note = study_reads(
            session, osid, key=key, direction=direction, relax_margin=RELAX_MARGIN
        )
    assert view is not None and view.number == plain
    assert note is not None and f"#{relaxed}" in note and f"#{plain}" in note
    assert "not kept" in note

    # a relaxed trial better on every fold, by far more than the margin: it is the best
    clear = _add(study, 0.4, _shifted(PLAIN_FOLDS, -0.2), sign=sign)
    with transaction(engine) as session:
        assert chosen_trial_number(session, osid, direction, "best", RELAX_MARGIN) == clear
        _, view, note = study_reads(
            session, osid, key=key, direction=direction, relax_margin=RELAX_MARGIN
        )
    assert view is not None and view.number == clear
    assert note is not None and f"#{clear}" in note and ": kept" in note
    engine.dispose()


def test_the_margin_keeps_the_best_when_there_is_nothing_to_compare(sqlite_url: str) -> None:
    """An unrelaxed best, no unrelaxed trial, or no fold values (a holdout): the best value."""
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    study = optuna.create_study(storage=storage_with_retries(sqlite_url))
    osid = study._study_id
    relaxed = _add(study, 0.8, _shifted(PLAIN_FOLDS, -0.001))
    with transaction(engine) as session:  # no unrelaxed trial yet
        assert chosen_trial_number(session, osid, "minimize", "best", 0.5) == relaxed
    plain = _add(study, 0.0, None, value=1.0)  # unrelaxed, without fold values
    with transaction(engine) as session:
        assert chosen_trial_number(session, osid, "minimize", "best", 0.5) == relaxed
        assert relax_margin_choice(session, osid, "minimize", relaxed, 0.5).note is None
    best_plain = _add(study, 0.0, _shifted(PLAIN_FOLDS, -0.5))  # an unrelaxed best
    with transaction(engine) as session:
        assert chosen_trial_number(session, osid, "minimize", "best", 0.5) == best_plain
    assert plain != best_plain
    engine.dispose()


def test_relax_choices_are_compared_by_value_not_by_index(sqlite_url: str) -> None:
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    study = optuna.create_study(storage=storage_with_retries(sqlite_url))
    choices = CategoricalDistribution([0.5, 0.0])  # 0 is stored as index 1, 0.5 as index 0
    for relax, folds in ((0.0, PLAIN_FOLDS), (0.5, _shifted(PLAIN_FOLDS, -0.003))):
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE,
                value=statistics.fmean(folds),
                params={"relax": relax},
                distributions={"relax": choices},
                user_attrs={"fold_values": folds},
            )
        )
    with transaction(engine) as session:
        assert chosen_trial_number(session, study._study_id, "minimize", "best", 0.5) == 0
    engine.dispose()


def _created(api: TestClient, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"relax-margin-{uuid.uuid4().hex[:8]}",
        "dataset": {"builtin": "diabetes"},
        "search_space": {"lambda": {"low": 1e-4, "high": 10.0, "log": True}, "l1_ratio": 1.0},
    }
    for key, value in changes.items():
        body[key] = {**body.get(key, {}), **value}
    response = api.post("/v1/studies", json=body)
    return {"status": response.status_code, **response.json()}


def test_a_study_searching_relax_under_folds_is_created_with_the_margin(api: TestClient) -> None:
    created = _created(api)
    relax = created["definition"]["search_space"]["relax"]
    assert (relax["low"], relax["high"]) == (0.0, 0.8)
    assert created["definition"]["validation"]["folds"] == 5
    assert created["definition"]["objective"]["relax_margin"] == RELAX_MARGIN
    assert _created(api, objective={"relax_margin": 2})["definition"]["objective"][
        "relax_margin"
    ] == pytest.approx(2.0)
    # where it does not apply, none is set, and 0 is always accepted
    for changes in (
        {"validation": {"holdout": 0.2}},
        {"search_space": {"relax": 0}},
        {"search_space": {"relax": {"low": 0.2, "high": 0.8}}},
        {"dataset": {"builtin": "breast_cancer"}},
        {"objective": {"relax_margin": 0}, "validation": {"holdout": 0.2}},
    ):
        objective = _created(api, **changes)["definition"]["objective"]
        assert not objective.get("relax_margin"), changes


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"validation": {"holdout": 0.2}}, "k-fold validation"),
        ({"search_space": {"relax": 0}}, "search_space.relax must be searched"),
        ({"search_space": {"relax": {"low": 0.2, "high": 0.8}}}, "must include 0"),
        ({"objective": {"relax_margin": -1}}, "greater than or equal to 0"),
    ],
)
def test_a_margin_that_cannot_apply_is_a_422_naming_it(
    api: TestClient, changes: dict[str, Any], rule: str
) -> None:
    margin = changes.pop("objective", {"relax_margin": 1})
    created = _created(api, objective=margin, **changes)
    assert created["status"] == 422, created
    error = created["error"]
    assert [f["path"] for f in error["fields"]] == ["objective.relax_margin"], error
    assert rule in error["message"], error


@pytest.mark.parametrize(("margin", "kept"), [(None, True), (5.0, False)])
def test_the_api_and_the_best_model_follow_the_margin(
    apps: Apps, monkeypatch: pytest.MonkeyPatch, margin: float | None, kept: bool
) -> None:
    """Real 5-fold trials of a study with the default margin (which keeps the relaxed best
    here) and a wide one (which does not): the API's best trial and the saved model are the
    rule's choice, computed here from the trials' own fold values.

    The trials run here, beside the app's sweep: a grace period of a minute keeps a heartbeat
    that a loaded machine delays from having the sweep fail the running trial."""
    api = apps(grace_period=60)
    from regtune.service.spec.definition import StudySpec
    from regtune.service.spec.resolve import resolve_task
    from regtune.service.store.scheduling.retries import get_storage
    from regtune.worker.best_model import save_best_model
    from regtune.worker.objective import make_objective
    from regtune.worker.policies import make_pruner

    objective = {} if margin is None else {"relax_margin": margin}
    created = _created(api, pruner={"type": "none"}, objective=objective)
    spec = resolve_task(StudySpec.from_stored(created["definition"]))
    margin = RELAX_MARGIN if margin is None else margin
    assert spec.objective.relax_margin == margin
    study = optuna.load_study(
        study_name=created["optuna_study_name"], storage=get_storage(), pruner=make_pruner(spec)
    )
    for lam in (0.05, 0.2, 1.0):
        for relax in (0.0, 0.4, 0.8):
            study.enqueue_trial({"lambda": lam, "relax": relax})
    study.optimize(make_objective(spec, stop_check=lambda: None), n_trials=9)

    complete = study.get_trials(states=[TrialState.COMPLETE])
    assert len(complete) == 9
    best = min(complete, key=lambda t: t.value or math.inf)
    assert best.params["relax"] > 0  # diabetes' sparse truth: a relaxed fit has the best value
    plain = min((t for t in complete if t.params["relax"] == 0), key=lambda t: t.value or math.inf)
    se = _paired_se(plain.user_attrs["fold_values"], best.user_attrs["fold_values"])
    assert plain.value is not None and best.value is not None
    assert (plain.value - best.value > margin * se) is kept
    expected = best if kept else plain

    shown = api.get(f"/v1/studies/{created['id']}").json()
    assert shown["best_trial"]["number"] == expected.number
    assert f"#{best.number}" in shown["selection"]["note"]
    assert ("not kept" in shown["selection"]["note"]) is not kept
    record = save_best_model(created["id"])
    assert record is not None and record["trial"] == expected.number
    shown_by_cli = cli_output(api, monkeypatch, "show", created["id"])
    assert f"selection: relax_margin: relaxed trial #{best.number}" in shown_by_cli
    assert f"best trial #{expected.number}:" in shown_by_cli
