"""The learning curves of a study of one objective are by the step its solver reports: the exact
solver's is a block of ``training.report_every`` iterations, not an epoch. Its axis said "step
(epoch)" whatever the solver (a study of several objectives on the same solver said "block of
iterations"), with ticks at 0.5 and 1.5 for the one step a λ path's point reports."""

from __future__ import annotations

import random
from typing import Any

import optuna
import pytest
from fastapi.testclient import TestClient
from optuna.trial import TrialState, create_trial

from regtune.service.spec.definition import StudySpec
from regtune.service.store.repos.study_creation import create_study
from regtune.service.store.scheduling.retries import get_storage
from tests.service.optuna_studies import add_trials
from tests.service.report_figures_json import titled
from tests.service.test_report import DISTRIBUTIONS, _set_status, _spec


def _study(kind: str, steps: int) -> str:
    row = create_study(StudySpec.model_validate(_spec(kind).model_dump(mode="json")))
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    rng = random.Random(4)
    trials: list[Any] = []
    for i in range(12):
        value = rng.uniform(0.3, 0.5)
        params = {"lambda": 10 ** rng.uniform(-4, 0), "l1_ratio": rng.random()}
        distributions = dict(DISTRIBUTIONS)
        if kind == "mlp":
            params["dropout"] = 0.1
            distributions["dropout"] = optuna.distributions.FloatDistribution(0.0, 0.5)
        pruned = i % 4 == 3
        trials.append(
            create_trial(
                state=TrialState.PRUNED if pruned else TrialState.COMPLETE,
                value=None if pruned else value,
                params=params,
                distributions=distributions,
                intermediate_values={s: value + 1 / s for s in range(1, steps + 1)},
                user_attrs={"n_nonzero": 4},
            )
        )
    add_trials(study, trials)
    _set_status(row.id, "completed")
    return row.id


@pytest.mark.parametrize(
    ("kind", "steps", "unit"),
    [("linear", 1, "block of iterations"), ("mlp", 6, "epoch")],
    ids=["exact", "minibatch"],
)
def test_the_learning_curves_are_by_the_solver_s_step(
    api: TestClient, kind: str, steps: int, unit: str
) -> None:
    html = api.get(f"/v1/studies/{_study(kind, steps)}/report").text
    figure = titled(html, "Learning curves")
    assert figure["layout"]["title"]["text"] == (
        f"Learning curves: complete against pruned trials (a sample), val_loss per {unit}"
    )
    axis = figure["layout"]["xaxis"]
    assert axis["title"]["text"] == unit
    assert axis["dtick"] == 1  # a whole step per tick: none at 0.5 or 1.5
