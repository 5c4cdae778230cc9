"""A trial marked diverged is never the best, also one stored before a diverged trial's value was
±inf, which kept the finite value of the epoch early stopping restored: the best trial, the
saved model, one_se and the Pareto front pass it by, and the study's ``selection.note`` names it
(was: chosen as the best, and its model saved)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

import optuna
import pytest
from fastapi.testclient import TestClient
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from regtune.service.store.db import transaction
from regtune.service.store.scheduling.retries import get_storage
from regtune.service.store.trials.best import pareto_numbers
from regtune.service.store.trials.selection import chosen_trial
from regtune.service.store.trials.views import study_reads
from tests.inprocess import cli_output
from tests.service.optuna_studies import directed_study

optuna.logging.set_verbosity(optuna.logging.WARNING)
LAMBDA = FloatDistribution(1e-4, 10.0, log=True)


def _add(
    study: optuna.Study, values: list[float], *, diverged: bool, lam: float = 0.1, **attrs: Any
) -> int:
    study.add_trial(
        create_trial(
            state=TrialState.COMPLETE,
            values=values,
            params={"lambda": lam},
            distributions={"lambda": LAMBDA},
            user_attrs={"diverged": diverged, **attrs},
        )
    )
    return study.trials[-1].number


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_a_diverged_trial_with_a_finite_value_is_never_chosen(
    database_url: str, direction: Literal["minimize", "maximize"]
) -> None:
    """Found by the best model's search (``chosen_trial``) and the API's index, whether it
    reads the trials at once or as they complete."""
    engine, study, sign = directed_study(database_url, direction)
    osid, watching = study._study_id, uuid.uuid4().hex
    with transaction(engine) as session:  # an index that sees the trials as they complete
        assert study_reads(session, osid, key=watching, direction=direction)[1] is None
    old = _add(study, [sign * 1.0], diverged=True)  # the best value, stored before ±inf
    kept = _add(study, [sign * 2.0], diverged=False)
    _add(study, [sign * 3.0], diverged=False)
    with transaction(engine) as session:
        number, note = chosen_trial(session, osid, direction, "best")
        reads = [
            study_reads(session, osid, key=key, direction=direction)
            for key in (watching, uuid.uuid4().hex)
        ]
    assert number == kept
    assert note is not None and f"#{old} diverged" in note
    for _, view, read_note in reads:
        assert view is not None and view.number == kept
        assert read_note == note
    engine.dispose()


def test_one_se_and_the_pareto_front_pass_a_diverged_trial_by(database_url: str) -> None:
    """one_se takes the largest λ within one SE of the best: a diverged trial's λ is not one."""
    engine, study, _ = directed_study(database_url, "minimize")
    folds = {"fold_values": [1.9, 2.0, 2.1]}
    _add(study, [2.0], diverged=False, lam=0.1, **folds)
    _add(study, [2.01], diverged=True, lam=5.0)  # within 1 SE, the largest λ
    wider = _add(study, [2.02], diverged=False, lam=1.0)
    with transaction(engine) as session:
        assert chosen_trial(session, study._study_id, "minimize", "one_se")[0] == wider
    two = optuna.create_study(storage=study._storage, directions=["minimize", "minimize"])
    _add(two, [1.0, 1.0], diverged=True)  # would dominate every other trial
    front = [_add(two, [2.0, 3.0], diverged=False), _add(two, [3.0, 2.0], diverged=False)]
    with transaction(engine) as session:
        assert pareto_numbers(session, two._study_id, ["minimize", "minimize"]) == front
    engine.dispose()


def test_the_api_and_the_saved_model_pass_an_old_diverged_trial_by_and_say_so(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from regtune.worker.best_model import save_best_model

    body = {
        "name": f"old-diverged-{uuid.uuid4().hex[:8]}",
        "dataset": {"builtin": "diabetes"},
        "search_space": {
            "lambda": {"low": 1e-4, "high": 10.0, "log": True},
            "l1_ratio": 1.0,
            "relax": 0.0,
        },
        "training": {"lambda_path": None},
        "validation": {"holdout": 0.2},
    }
    created = api.post("/v1/studies", json=body)
    assert created.status_code == 201, created.text
    shown = created.json()
    study = optuna.load_study(study_name=shown["optuna_study_name"], storage=get_storage())
    old = _add(study, [0.1], diverged=True, lam=0.01)
    kept = _add(study, [0.2], diverged=False, lam=0.05)

    shown = api.get(f"/v1/studies/{shown['id']}").json()
    assert shown["best_trial"]["number"] == kept, shown["best_trial"]
    assert f"#{old} diverged" in shown["selection"]["note"], shown["selection"]
    record = save_best_model(shown["id"])
    assert record is not None and record["trial"] == kept
    assert f"trial #{old} diverged" in cli_output(api, monkeypatch, "show", shown["id"])
