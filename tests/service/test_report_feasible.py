"""The report of a study with ``objective.max_nonzero``: its search plots leave the trials over
the limit out of the best value, as the API, ``regtune show`` and Optuna's ``study.best_trial``
do. The page rebuilt its trials for Optuna's plots without their constraint, so its optimization
history drew every trial as feasible and its "Best Value" line dropped to a trial over the limit;
the best value per cell and the importances counted those trials too."""

from __future__ import annotations

import math

import optuna
from fastapi.testclient import TestClient
from optuna.trial import TrialState, create_trial

from regtune.service.importance import optuna_importance
from regtune.service.spec.definition import StudySpec
from regtune.service.store.repos.study_creation import create_study
from regtune.service.store.scheduling.retries import get_storage
from tests.service.optuna_studies import add_trials
from tests.service.report_figures_json import titled, trace
from tests.service.test_report import DISTRIBUTIONS, _set_status, _spec

LIMIT = 3


def _trials() -> list[optuna.trial.FrozenTrial]:
    """30 trials from λ 1e-4 to 1: the less penalized, the better their value and the more
    non-zero weights; under λ 0.01 over ``LIMIT``, as the worker marks them."""
    trials = []
    for i in range(30):
        lam = 10 ** (-4 + 4 * i / 29)
        l1 = (i * 7 % 10) / 10
        nonzero = round(6 - 1.5 * (math.log10(lam) + 4))
        trials.append(
            create_trial(
                state=TrialState.COMPLETE,
                value=0.3 + 0.1 * (math.log10(lam) + 4) + 0.01 * l1,
                params={"lambda": lam, "l1_ratio": l1},
                distributions=DISTRIBUTIONS,
                user_attrs={"n_nonzero": nonzero, "feasible": nonzero <= LIMIT},
                constraints={"max_nonzero": float(nonzero - LIMIT)},
            )
        )
    return trials


def test_the_search_plots_leave_trials_over_max_nonzero_out_of_the_best(api: TestClient) -> None:
    definition = _spec().model_dump(mode="json", exclude_none=True)
    row = create_study(StudySpec.model_validate(definition | {"objective": {"max_nonzero": LIMIT}}))
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    trials = _trials()
    add_trials(study, trials)
    _set_status(row.id, "completed")
    feasible = [t for t in trials if t.user_attrs["feasible"]]
    best = min(feasible, key=lambda t: t.value or 0.0)
    assert api.get(f"/v1/studies/{row.id}").json()["best_trial"]["number"] == best.number
    assert study.best_trial.number == best.number

    html = api.get(f"/v1/studies/{row.id}/report").text
    history = titled(html, "Optimization history")
    over = trace(history, "Infeasible Trial")
    assert over["x"] == [t.number for t in trials if not t.user_attrs["feasible"]]
    assert trace(history, "Objective Value")["x"] == [t.number for t in feasible]
    best_line = [v for v in trace(history, "Best Value")["y"] if v is not None]
    assert min(best_line) == best.value  # was 0.3, trial 0's, over the limit

    cells = titled(html, "λ × l1_ratio: best value per cell")
    values = [v for row_ in cells["data"][0]["z"] for v in row_ if v is not None]
    assert min(values) == best.value, "a cell's best value is a feasible trial's"

    importances = titled(html, "Parameter importances")
    only_feasible = optuna.create_study()
    only_feasible.add_trials(feasible)
    found = optuna_importance().get_param_importances(only_feasible)
    bars = importances["data"][0]
    drawn = dict(zip(bars["y"], bars["x"], strict=True))
    assert drawn == {name: found[name] for name in drawn}
    assert set(drawn) == set(found)

    assert "Grey dots: the 13 sampled trials over objective.max_nonzero (infeasible" in html
    assert "Each cell&#39;s best value is of the trials within objective.max_nonzero" in html
