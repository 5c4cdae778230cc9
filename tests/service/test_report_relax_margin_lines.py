"""The report of a study under ``objective.select: one_se`` whose best value is a relaxed trial
that ``objective.relax_margin`` did not keep: the one-SE rule starts from the best unrelaxed
trial. The legend called that trial "the best value"; it now says the margin kept it in place
of the relaxed trial whose value is the best (diabetes, tpe seed 26: relaxed #60 beat
unrelaxed #59 by 3.4e-05, within the margin)."""

from __future__ import annotations

import optuna
from fastapi.testclient import TestClient
from optuna.distributions import BaseDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from regtune.service.spec.definition import StudySpec
from regtune.service.store.repos.study_creation import create_study
from regtune.service.store.scheduling.retries import get_storage
from tests.service.test_relax_margin import NOISE, PLAIN_FOLDS, _shifted
from tests.service.test_report import _set_status, _spec

DISTRIBUTIONS: dict[str, BaseDistribution] = {
    "lambda": FloatDistribution(1e-4, 1.0, log=True),
    "l1_ratio": FloatDistribution(0.0, 1.0),
    "relax": FloatDistribution(0.0, 0.8),
}


def _study(margin: bool) -> str:
    """Trial 0 unrelaxed at λ 0.01, trial 1 relaxed at λ 0.01 and better by a hair, trial 2
    unrelaxed at λ 0.1 within one SE of trial 0 (the one-SE choice), trial 3 far off."""
    definition = _spec().model_dump(mode="json", exclude_none=True)
    definition["search_space"]["relax"] = {"low": 0.0, "high": 0.8}
    objective = {"metric": "val_loss", "select": "one_se", "relax_margin": 0.5 if margin else 0}
    spec = StudySpec.model_validate(
        definition | {"validation": {"folds": 5}, "objective": objective}
    )
    row = create_study(spec)
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    for lam, relax, folds in (
        (0.01, 0.0, PLAIN_FOLDS),
        (0.01, 0.8, _shifted(PLAIN_FOLDS, -0.003)),
        (0.1, 0.0, _shifted(PLAIN_FOLDS, 0.03, [0.0] * len(NOISE))),
        (0.3, 0.0, _shifted(PLAIN_FOLDS, 1.0, [0.0] * len(NOISE))),
    ):
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE,
                value=sum(folds) / len(folds),
                params={"lambda": lam, "l1_ratio": 0.5, "relax": relax},
                distributions=DISTRIBUTIONS,
                user_attrs={"fold_values": folds},
            )
        )
    _set_status(row.id, "completed")
    return row.id


def test_the_legend_says_the_margin_moved_where_one_se_started(api: TestClient) -> None:
    study_id = _study(margin=True)
    shown = api.get(f"/v1/studies/{study_id}").json()
    assert shown["best_trial"]["number"] == 2
    assert "relaxed trial #1 beats unrelaxed trial #0" in shown["selection"]["note"]
    html = api.get(f"/v1/studies/{study_id}/report").text
    assert (
        "Solid line: the λ of trial #0, the best unrelaxed trial, which objective.relax_margin "
        "kept in place of relaxed trial #1, the best value (glmnet&#39;s lambda.min); dashed: the "
        "λ of trial #2" in html
    )
    assert "trial #0, the best value" not in html


def test_without_the_margin_the_legend_names_the_best_value(api: TestClient) -> None:
    study_id = _study(margin=False)
    html = api.get(f"/v1/studies/{study_id}/report").text
    assert "Solid line: the λ of trial #1, the best value (glmnet&#39;s lambda.min)" in html
    assert "relax_margin kept" not in html
