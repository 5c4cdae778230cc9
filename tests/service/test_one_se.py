"""``objective.select: one_se``: the largest λ whose value is within one standard error (across
the best trial's folds) of the best value, as glmnet's ``lambda.1se``; on both backends."""

from __future__ import annotations

import math
import statistics
import uuid
from typing import Any, Literal

import optuna
import pytest
from fastapi.testclient import TestClient
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from regtune.service.spec.definition import StudySpec
from regtune.service.spec.resolve import resolve_task
from regtune.service.store.db import make_engine, transaction
from regtune.service.store.migrate import upgrade
from regtune.service.store.scheduling.retries import get_storage, storage_with_retries
from regtune.service.store.trials.selection import chosen_trial_number
from regtune.service.store.trials.views import study_reads
from tests.service.optuna_studies import directed_study

optuna.logging.set_verbosity(optuna.logging.WARNING)
BEST_FOLDS = [0.9, 1.1, 1.0, 0.95, 1.05]
SE = statistics.stdev(BEST_FOLDS) / len(BEST_FOLDS) ** 0.5  # ≈ 0.035


def _add(
    study: optuna.Study,
    lam: float,
    value: float,
    *,
    folds: list[float] | None = None,
    distribution: BaseDistribution | None = None,
    **attrs: Any,
) -> None:
    study.add_trial(
        create_trial(
            state=TrialState.COMPLETE,
            value=value,
            params={"lambda": lam, "l1_ratio": 0.5},
            distributions={
                "lambda": distribution or FloatDistribution(1e-5, 10.0, log=True),
                "l1_ratio": FloatDistribution(0, 1),
            },
            user_attrs={**attrs, **({"fold_values": folds} if folds else {})},
        )
    )


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_one_se_picks_the_largest_lambda_within_one_standard_error(
    database_url: str, direction: Literal["minimize", "maximize"]
) -> None:
    engine, study, sign = directed_study(database_url, direction)
    _add(study, 0.01, sign * 1.0, folds=[sign * v for v in BEST_FOLDS])  # 0: the best value
    _add(study, 0.1, sign * 1.02)  # 1: within 1 SE
    _add(study, 1.0, sign * (1.0 + SE * 1.01))  # 2: just outside
    _add(study, 0.5, sign * 1.03, feasible=False)  # 3: within, larger λ, but infeasible
    _add(study, 0.05, sign * 1.01)  # 4: within, smaller λ than trial 1
    osid, key = study._study_id, uuid.uuid4().hex  # the index is per process: a fresh key
    with transaction(engine) as session:
        assert chosen_trial_number(session, osid, direction, "best") == 0
        assert chosen_trial_number(session, osid, direction, "one_se") == 1
        _, view, note = study_reads(session, osid, key=key, direction=direction, select="one_se")
    assert view is not None and view.number == 1 and view.params["lambda"] == 0.1
    assert note is not None and "trial #0" in note and f"({SE:.4g})" in note
    _add(study, 0.3, sign * 1.03)  # 5: within 1 SE, larger λ: the choice moves
    with transaction(engine) as session:
        _, view, _ = study_reads(session, osid, key=key, direction=direction, select="one_se")
        assert view is not None and view.number == 5
    engine.dispose()


def _knobs(study: optuna.Study, lam: float, value: float, **params: float) -> int:
    """A trial at λ and the other knobs ``params`` (l1_ratio, relax, dropout: choices)."""
    choices = {"l1_ratio": [0.0, 0.5, 1.0], "relax": [0.0, 0.4, 0.8], "dropout": [0.0, 0.2]}
    study.add_trial(
        create_trial(
            state=TrialState.COMPLETE,
            value=value,
            params={"lambda": lam, **params},
            distributions={
                "lambda": FloatDistribution(1e-4, 1.0, log=True),
                **{k: CategoricalDistribution(choices[k]) for k in params},
            },
            user_attrs={"fold_values": BEST_FOLDS} if not study.trials else {},
        )
    )
    return study.trials[-1].number


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_one_se_moves_along_the_best_configurations_lambda_path_only(
    database_url: str, direction: Literal["minimize", "maximize"]
) -> None:
    """The other knobs (l1_ratio, relax, any other param) are the best trial's: a ridge fit
    relaxed towards least squares at a larger λ is another path, not a more regularized lasso."""
    engine, study, sign = directed_study(database_url, direction)
    best = _knobs(study, 0.01, sign * 1.0, l1_ratio=1.0, relax=0.0)
    along = _knobs(study, 0.055, sign * 1.02, l1_ratio=1.0, relax=0.0)
    _knobs(study, 0.2, sign * (1.0 + SE * 1.01), l1_ratio=1.0, relax=0.0)  # just outside
    _knobs(study, 0.398, sign * 1.01, l1_ratio=0.0, relax=0.8)  # the old rule's choice
    _knobs(study, 0.3, sign * 1.01, l1_ratio=1.0, relax=0.4)  # the same l1_ratio, relaxed
    _knobs(study, 0.5, sign * 1.01, l1_ratio=1.0, relax=0.0, dropout=0.2)  # one more knob
    _knobs(study, 0.6, sign * 1.01, l1_ratio=1.0)  # one knob fewer
    osid, key = study._study_id, uuid.uuid4().hex
    with transaction(engine) as session:
        assert chosen_trial_number(session, osid, direction, "one_se") == along
        _, view, note = study_reads(session, osid, key=key, direction=direction, select="one_se")
    assert view is not None and view.number == along
    assert view.params == {"lambda": 0.055, "l1_ratio": 1.0, "relax": 0.0}
    assert note is not None and f"trial #{best}'s" in note and "along its λ path" in note
    alone = optuna.create_study(storage=study._storage, direction=direction)
    best = _knobs(alone, 0.01, sign * 1.0, l1_ratio=0.5, relax=0.0)
    _knobs(alone, 0.3, sign * 1.01, l1_ratio=1.0, relax=0.0)  # within 1 SE, another path
    with transaction(engine) as session:  # no other λ at the best's knobs: the best
        assert chosen_trial_number(session, alone._study_id, direction, "one_se") == best
    engine.dispose()


def test_choices_of_lambda_are_compared_by_value_not_by_index(sqlite_url: str) -> None:
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    study = optuna.create_study(storage=storage_with_retries(sqlite_url))
    choices = CategoricalDistribution([1.0, 0.001, 0.1, 0.01])  # stored as indices 0–3
    _add(study, 0.001, 1.0, folds=BEST_FOLDS, distribution=choices)
    _add(study, 0.1, 1.03, distribution=choices)  # index 2, the largest λ within 1 SE
    _add(study, 0.01, 1.01, distribution=choices)  # index 3
    _add(study, 1.0, 2.0, distribution=choices)  # index 0, far outside
    with transaction(engine) as session:
        assert chosen_trial_number(session, study._study_id, "minimize", "one_se") == 1
    engine.dispose()


def test_without_fold_values_one_se_keeps_the_best(sqlite_url: str) -> None:
    """A holdout trial has no standard error: nothing is within it but the best itself."""
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    study = optuna.create_study(storage=storage_with_retries(sqlite_url))
    _add(study, 0.01, 1.0)
    _add(study, 1.0, 1.0 + 1e-9)
    with transaction(engine) as session:
        assert chosen_trial_number(session, study._study_id, "minimize", "one_se") == 0
    engine.dispose()


def test_the_api_and_the_best_model_follow_one_se(api: TestClient) -> None:
    """Real 5-fold trials of a one_se study: the API's best trial and the saved model are the
    largest λ within one SE of the best value, computed here from the trials' own fold values."""
    from regtune.worker.best_model import save_best_model
    from regtune.worker.objective import make_objective
    from regtune.worker.policies import make_pruner

    body = {
        "name": "one-se",
        "dataset": {"builtin": "diabetes"},
        "search_space": {
            "lambda": {"low": 1e-4, "high": 10.0, "log": True},
            "l1_ratio": 1.0,
            "relax": 0,  # the lasso: one_se's choice among λ alone
        },
        "objective": {"select": "one_se"},
        "pruner": {"type": "none"},
    }
    created = api.post("/v1/studies", json=body).json()
    spec = resolve_task(StudySpec.from_stored(created["definition"]))
    study = optuna.load_study(
        study_name=created["optuna_study_name"], storage=get_storage(), pruner=make_pruner(spec)
    )
    for lam in (1e-4, 1e-3, 0.003, 0.01, 0.02, 0.03, 0.05, 0.1, 1.0):
        study.enqueue_trial({"lambda": lam})
    study.optimize(make_objective(spec, stop_check=lambda: None), n_trials=9)

    complete = study.get_trials(states=[TrialState.COMPLETE])
    assert len(complete) == 9
    best = min(complete, key=lambda t: t.value or math.inf)
    folds = best.user_attrs["fold_values"]
    assert len(folds) == 5  # the default for this data: 5 folds
    threshold = best.value + statistics.stdev(folds) / math.sqrt(len(folds))
    within = [t for t in complete if t.value is not None and t.value <= threshold]
    expected = max(within, key=lambda t: t.params["lambda"])
    assert expected.number != best.number  # the data leaves room: the rule changes the answer

    shown = api.get(f"/v1/studies/{created['id']}").json()
    assert shown["best_trial"]["number"] == expected.number
    assert shown["selection"]["rule"] == "one_se"
    assert f"trial #{best.number}" in shown["selection"]["note"]
    record = save_best_model(created["id"])
    assert record is not None and record["trial"] == expected.number
    # Optuna's best_trial (optuna-dashboard's "Best Trial") is the best value: the chosen trial
    # is named where Optuna's users and the dashboard look, a study user attribute
    assert study.best_trial.number == best.number
    attrs = optuna.load_study(study_name=study.study_name, storage=get_storage()).user_attrs
    assert attrs["regtune:chosen_trial"] == expected.number
    assert attrs["regtune:chosen_because"] == (
        f"{shown['selection']['note']}; the saved best model is this trial's"
    )
