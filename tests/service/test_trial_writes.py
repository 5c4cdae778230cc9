"""One-statement trial writes store exactly what Optuna's RDBStorage stores, with its errors."""

from __future__ import annotations

import math
from typing import Any, Literal

import optuna
import pytest
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.exceptions import StorageInternalError, UpdateFinishedTrialError
from optuna.storages import RDBStorage

from regtune.service.store.db import engine_kwargs
from regtune.service.store.optuna_db.storage import Storage
from regtune.service.store.scheduling.retries import storage_with_retries

optuna.logging.set_verbosity(optuna.logging.WARNING)
REPORTS = [0.5, math.inf, -math.inf, math.nan, 1e-300, -2.0]


def _run(storage: RDBStorage) -> optuna.trial.FrozenTrial:
    """The same trial through any storage: three parameters (two trials so the
    distribution cache is warm), six reports including non-finite ones, one overwrite."""
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(2):
        trial = study.ask()
        trial.suggest_float("x", 0.0, 1.0)
        trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        trial.suggest_int("n", 1, 9)
        for step, value in enumerate(REPORTS):
            trial.report(value, step)
        storage.set_trial_intermediate_value(trial._trial_id, 0, 0.25)  # an upsert
        study.tell(trial, 1.0)
    return study.trials[-1]


def _curve(trial: optuna.trial.FrozenTrial) -> list[str]:
    return [repr(trial.intermediate_values[s]) for s in sorted(trial.intermediate_values)]


def test_reports_and_params_are_stored_as_optuna_stores_them(database_url: str) -> None:
    ours = storage_with_retries(database_url)
    assert isinstance(ours, Storage)
    fast = _run(ours)
    plain = _run(RDBStorage(database_url, engine_kwargs=engine_kwargs(database_url)))
    assert _curve(fast) == _curve(plain) == [repr(v) for v in [0.25, *REPORTS[1:]]]
    assert fast.distributions == plain.distributions
    assert set(fast.params) == {"x", "lr", "n"}
    assert isinstance(fast.params["n"], int)
    ours.engine.dispose()


def test_writes_to_finished_or_unknown_trials_fail_like_optuna(database_url: str) -> None:
    storage = storage_with_retries(database_url)
    study = optuna.create_study(storage=storage)
    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    study.tell(trial, 1.0)
    backend: RDBStorage = storage
    dist = FloatDistribution(0.0, 1.0)
    with pytest.raises(UpdateFinishedTrialError):
        backend.set_trial_intermediate_value(trial._trial_id, 3, 1.0)
    with pytest.raises(UpdateFinishedTrialError):
        backend._set_trial_param(trial._trial_id, "y", 0.5, dist, dist)
    with pytest.raises(KeyError):
        backend.set_trial_intermediate_value(10**6, 1, 1.0)
    running = study.ask()
    with pytest.raises(ValueError, match="distribution"):
        backend._set_trial_param(running._trial_id, "x", 1.0, IntDistribution(0, 3), dist)
    backend._set_trial_param(running._trial_id, "x", 0.5, dist, dist)
    backend._set_trial_param(running._trial_id, "x", 0.7, dist, dist)  # ignored, as in Optuna
    assert backend.get_trial(running._trial_id).params == {"x": 0.5}
    storage.engine.dispose()


def _varied_study(storage: RDBStorage) -> optuna.Study:
    """Trials in every state, with params of each kind, user and system attributes (JSON of
    several types) and non-finite reports; and a study of two objectives' values."""
    two = optuna.create_study(storage=storage, directions=["minimize", "maximize"])
    two.add_trial(optuna.trial.create_trial(values=[1.0, -math.inf]))
    study = optuna.create_study(storage=storage)
    for k in range(4):
        trial = study.ask()
        trial.suggest_float("x", 0.0, 1.0)
        trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        trial.suggest_int("n", 1, 9)
        trial.suggest_categorical("kind", ["a", None, 3])
        trial.set_user_attr("note", {"k": k, "list": [1, 2.5, None]})
        storage.set_trial_system_attr(trial._trial_id, "sys", f"s{k}")
        for step, value in enumerate(REPORTS[: k + 2]):
            trial.report(value, step)
        if k == 0:
            study.tell(trial, math.inf)
        elif k == 1:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        elif k == 2:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    study.enqueue_trial({"x": 0.5})
    return study


def test_the_trials_read_is_optunas(database_url: str) -> None:
    ours = storage_with_retries(database_url)
    assert isinstance(ours, Storage)
    plain = RDBStorage(database_url, engine_kwargs=engine_kwargs(database_url))
    study = _varied_study(plain)  # written by Optuna: nothing of it is kept in ``ours``
    sid = study._study_id
    ids = [t._trial_id for t in plain.get_all_trials(sid)]
    running = (optuna.trial.TrialState.RUNNING,)
    for states, included, above in [
        (None, set(), -1),
        (running, set(), -1),
        (None, set(), ids[1]),
        (None, {ids[0], ids[2]}, ids[2]),
        ((optuna.trial.TrialState.WAITING,), set(), ids[0]),
    ]:
        read = ours._get_trials(sid, states, included, above)
        # repr: every field, NaN reports included, trial ids and times in the same order
        assert [(repr(t), t._trial_id) for t in read] == [
            (repr(t), t._trial_id) for t in plain._get_trials(sid, states, included, above)
        ]
        assert read
    assert len(ours._get_trials(sid, None, set(), -1)) == 5
    assert ours._get_trials(sid - 1, None, set(), -1) == plain._get_trials(sid - 1, None, set(), -1)
    assert ours._get_trials(sid - 1, None, set(), -1)[0].values == [1.0, -math.inf]
    with pytest.raises(KeyError):
        ours._get_trials(sid + 100, None, set(), -1)
    ours.engine.dispose()
    plain.engine.dispose()


def test_a_new_trial_is_created_as_optuna_creates_it(database_url: str) -> None:
    ours = storage_with_retries(database_url)
    assert isinstance(ours, Storage)
    plain = RDBStorage(database_url, engine_kwargs=engine_kwargs(database_url))
    sid = optuna.create_study(storage=plain)._study_id
    created = []
    for storage in (ours, plain, ours, ours, plain):  # numbered in turn, whoever creates
        created.append(storage._create_new_trial(sid))
    assert [t.number for t in created] == [0, 1, 2, 3, 4]
    for trial in created:
        stored = plain.get_trial(trial._trial_id)
        assert (repr(stored), stored._trial_id) == (repr(trial), trial._trial_id)
        assert stored.state == optuna.trial.TrialState.RUNNING
    with pytest.raises(KeyError):
        ours._create_new_trial(sid + 100)
    ours.engine.dispose()
    plain.engine.dispose()


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_the_best_trial_and_the_study_attributes_are_read_as_optuna_reads_them(
    database_url: str, direction: Literal["minimize", "maximize"]
) -> None:
    ours = storage_with_retries(database_url)
    assert isinstance(ours, Storage)
    plain = RDBStorage(database_url, engine_kwargs=engine_kwargs(database_url))
    study = optuna.create_study(storage=plain, direction=direction)
    sid = study._study_id
    with pytest.raises(ValueError):
        ours._get_best_trial_id(sid, study.direction)
    study.set_metric_names(["loss"])
    plain.set_study_system_attr(sid, "note", {"a": [1, None]})
    for value in (2.0, -math.inf, 0.5, math.inf, -3.0):
        study.add_trial(optuna.trial.create_trial(value=value))
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    best = ours._get_best_trial_id(sid, study.direction)
    assert best == plain._get_best_trial_id(sid, study.direction)
    assert ours.get_trial(best).value == (-math.inf if direction == "minimize" else math.inf)
    assert ours.get_study_system_attrs(sid) == plain.get_study_system_attrs(sid)
    assert ours.get_study_system_attrs(sid)["note"] == {"a": [1, None]}
    with pytest.raises(KeyError):
        ours.get_study_system_attrs(sid + 100)
    ours.engine.dispose()
    plain.engine.dispose()


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_the_best_trial_is_the_best_within_its_constraints_as_optunas_best_trial(
    database_url: str, direction: Literal["minimize", "maximize"]
) -> None:
    """Optuna's storage gives the best value whatever its constraints and ``Study.best_trial``
    looks further; optuna-dashboard's "Best Trial" is the storage's alone, so regtune's storage
    gives the best within them, named (``set_constraint``) or listed (``constraints_func``)."""
    ours = storage_with_retries(database_url)
    assert isinstance(ours, Storage)
    study = optuna.create_study(storage=ours, direction=direction)
    sign = 1.0 if direction == "minimize" else -1.0
    for value, over in ((1.0, 0.2), (2.0, 0.0), (3.0, -1.0), (2.0, -0.5)):
        study.add_trial(optuna.trial.create_trial(value=sign * value, constraints={"m": over}))
    listed = {"constraints": [-1.0, 4.0]}
    study.add_trial(optuna.trial.create_trial(value=sign * 0.5, system_attrs=listed))
    assert ours.get_best_trial(study._study_id).number == 1  # 2.0 within, before #3's 2.0
    assert study.best_trial.number == 1
    detail = _dashboard_study(ours)
    assert [t["number"] for t in detail["best_trials"]] == [1]

    alone = optuna.create_study(storage=ours, direction=direction)
    for value in (2.0, 1.0):
        alone.add_trial(optuna.trial.create_trial(value=sign * value, constraints={"m": 1.0}))
    assert ours.get_best_trial(alone._study_id).number == 1  # none within: the best value
    with pytest.raises(ValueError, match="No feasible trials"):
        _ = alone.best_trial
    ours.engine.dispose()


def _dashboard_study(storage: RDBStorage) -> dict[str, Any]:
    """optuna-dashboard's answer for the storage's first study, as its page asks it."""
    import httpx
    from optuna_dashboard import wsgi

    app = httpx.WSGITransport(app=wsgi(storage))
    with httpx.Client(transport=app, base_url="http://dashboard") as dashboard:
        sid = dashboard.get("/api/studies").json()["study_summaries"][0]["study_id"]
        answer: dict[str, Any] = dashboard.get(f"/api/studies/{sid}").json()
    return answer


def test_creating_a_trial_is_tried_again_after_a_database_error_as_optuna_does(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deadlock between workers fails one insert: the trial is created on a later try; a
    database that keeps failing is Optuna's ``StorageInternalError`` after the last one."""
    from sqlalchemy.exc import OperationalError

    from regtune.service.store.optuna_db.internals import one_statement

    storage = storage_with_retries(database_url)
    study = optuna.create_study(storage=storage)
    create = one_statement.create_trial
    failures = {"left": 2, "tries": 0}

    def deadlocked(*args: Any, **kwargs: Any) -> Any:
        failures["tries"] += 1
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("INSERT INTO trials", {}, Exception("deadlock detected"))
        return create(*args, **kwargs)

    monkeypatch.setattr(one_statement, "create_trial", deadlocked)
    monkeypatch.setattr(one_statement, "CREATE_ATTEMPTS", 3)
    monkeypatch.setattr(one_statement, "CREATE_WAIT", 0.01)
    trial = study.ask()
    assert failures["tries"] == 3 and trial.number == 0
    assert [t.number for t in study.get_trials(deepcopy=False)] == [0]

    failures["left"], failures["tries"] = 5, 0
    with pytest.raises(StorageInternalError, match="could not create a trial"):
        study.ask()
    assert failures["tries"] == 3
    assert len(study.get_trials(deepcopy=False)) == 1
    storage.engine.dispose()
