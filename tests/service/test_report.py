"""The study report in-process: a study's trials written through Optuna, the page read through
the app in-process (the ``apps`` fixture) on a SQLite file; no worker, no server process.

A finished linear study's page carries every plot, its best model's coefficients by input name and
its test metrics beside the baseline; another tenant gets 404; a queued study and a failed one
get a page that says so (with the error); the study JSON links to the report.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from fastapi.testclient import TestClient
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial
from sqlalchemy import update

from regtune.service.spec.definition import StudySpec
from regtune.service.store.db import transaction
from regtune.service.store.optuna_db.attrs import COEFFICIENTS_ATTR
from regtune.service.store.repos.study_creation import create_study
from regtune.service.store.scheduling.retries import get_storage
from regtune.service.store.tables import StudyRow
from regtune.service.store.trials import report as report_reads
from regtune.service.store.trials.coefficients import encode
from regtune.service.store.trials.curves import CURVES, sample_curves
from tests.inprocess import Apps
from tests.service.optuna_studies import add_trials
from tests.service.report_models import save_best_model

optuna.logging.set_verbosity(optuna.logging.WARNING)
ADMIN = "report-admin-key-0123456789abcdef"
FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2"]
WEIGHTS = [0.0, -0.2, 0.9, 0.4, 0.0, 0.1]
TRUE = [0.05, -0.3, 1.0, 0.5, 0.02, 0.15]
"""Each input's weight without a penalty: the path's trials shrink them (lasso-like), so the
inputs enter, from large λ to small, in the order of their size: bmi, bp, sex, s2, age, s1."""
DISTRIBUTIONS: dict[str, BaseDistribution] = {
    "lambda": FloatDistribution(1e-4, 1.0, log=True),
    "l1_ratio": FloatDistribution(0.0, 1.0),
}


@pytest.fixture
def api(apps: Apps) -> TestClient:
    """The app in-process with keys on, called with the admin key (the default tenant)."""
    client = apps(admin_key=ADMIN)
    client.headers["Authorization"] = f"Bearer {ADMIN}"
    return client


def _key(api: TestClient, tenant: str) -> dict[str, str]:
    created = api.post("/v1/keys", json={"tenant": tenant})
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['key']}"}


def _spec(kind: str = "linear") -> StudySpec:
    space: dict[str, Any] = {
        "lambda": {"low": 1e-4, "high": 1.0, "log": True},
        "l1_ratio": {"low": 0.0, "high": 1.0},
    }
    if kind == "mlp":
        space["dropout"] = {"low": 0.0, "high": 0.5}
    return StudySpec.model_validate(
        {
            "name": f"report-{uuid.uuid4().hex[:8]}",
            "dataset": {"builtin": "diabetes"},
            "task": "regression",
            "model": {"kind": kind},
            "search_space": space,
            "pruner": {"type": "median"},
            "budget": {"n_trials": 60},
        }
    )


def _trial(
    rng: random.Random, lam: float, l1: float, pruned: bool, dropout: float | None = None
) -> Any:
    value = 0.3 + 0.05 * (math.log10(lam) + 2) ** 2 + 0.02 * l1 + rng.uniform(0, 0.02)
    params: dict[str, float] = {"lambda": lam, "l1_ratio": l1}
    distributions = dict(DISTRIBUTIONS)
    if dropout is not None:
        value += 0.1 * (dropout - 0.2) ** 2
        params["dropout"] = dropout
        distributions["dropout"] = FloatDistribution(0.0, 0.5)
    epochs = 3 if pruned else 8
    cut = lam * (0.2 + l1)  # lasso-like soft-thresholding, stronger at larger λ
    shrunk = [math.copysign(max(0.0, abs(t) - cut), t) / (1 + lam * (1 - l1)) for t in TRUE]
    system_attrs = {} if dropout is not None else {COEFFICIENTS_ATTR: encode(FEATURES, shrunk)}
    curve = {e: value * (1 + (8 - e) / 8) for e in range(1, epochs + 1)}
    return create_trial(
        state=TrialState.PRUNED if pruned else TrialState.COMPLETE,
        value=None if pruned else value,
        params=params,
        distributions=distributions,
        intermediate_values=curve,
        system_attrs=system_attrs,
        user_attrs={
            "n_nonzero": max(0, min(6, int(6 - 2 * (math.log10(lam) + 4) * l1))),
            "test_loss": value * 1.05,
            "test_r2": 1 - 2 * value,
        },
    )


def finished_study(tenant: str, *, n: int = 60, kind: str = "linear") -> StudyRow:
    """A completed study of ``n`` trials (a fifth pruned) and a saved best model; an ``mlp``
    study searches dropout too."""
    row = create_study(_spec(kind), tenant=tenant)
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    rng = random.Random(0)
    add_trials(
        study,
        [
            _trial(
                rng,
                10 ** rng.uniform(-4, 0),
                rng.random(),
                pruned=i % 5 == 4,
                dropout=rng.uniform(0, 0.5) if kind == "mlp" else None,
            )
            for i in range(n)
        ],
    )
    _save_model(study, row)
    _set_status(row.id, "completed")
    return row


def _save_model(study: optuna.Study, row: StudyRow) -> None:
    """A refit model of the study's best trial (tensors ``member.{i}.1.weight``)."""
    save_best_model(
        study,
        {
            "member.0.1.weight": np.array([WEIGHTS], dtype=np.float32),
            "member.0.1.bias": np.zeros(1, dtype=np.float32),
        },
        file="model.safetensors",
        metadata={
            "feature_names": '["' + '", "'.join(FEATURES) + '"]',
            "preprocessing": '[{"y_scale": 77.0}]',
        },
        filename=f"{row.name}-trial{study.best_trial.number}.safetensors",
        test_metrics={"loss": 0.31, "r2": 0.42, "rmse": 55.0},
        baseline_metrics={"loss": 0.52, "r2": -0.013, "rmse": 77.5},
        refit=True,
        train_rows=353,
        n_nonzero=4,
        refit_lambda=0.05,
        note="the refit raised λ to keep at most 4 non-zero weights",
    )


def _set_status(study_id: str, status: str, error: str | None = None) -> None:
    with transaction() as session:
        session.execute(
            update(StudyRow).where(StudyRow.id == study_id).values(status=status, error=error)
        )


def _in_figure(text: str, html: str) -> bool:
    """Whether ``text`` is in a figure's JSON, as plotly writes it (escaped to ASCII by the
    json module, raw UTF-8 by orjson when that is installed)."""
    return text in html or json.dumps(text)[1:-1] in html


def _plots(html: str) -> int:
    return len(re.findall(r'class="plotly-graph-div"', html))


def test_a_finished_study_has_every_plot_and_its_model(api: TestClient) -> None:
    row = finished_study("alpha")
    alpha = _key(api, "alpha")
    study = api.get(f"/v1/studies/{row.id}", headers=alpha)
    assert study.status_code == 200, study.text
    assert study.json()["report_url"] == f"/v1/studies/{row.id}/report"

    page = api.get(study.json()["report_url"], headers=alpha)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    for title in (
        "Optimization history",
        "Parameter importances (PED-ANOVA)",
        "λ × l1_ratio: best value per cell",
        "Coefficient path at l1_ratio ∈",
        "Validation curve",
        "against non-zero weights",
        "Learning curves",
        "Best model: non-zero coefficients (4 of 6 inputs",
    ):
        assert _in_figure(title, html), title
    assert _plots(html) == 8
    assert "https://" not in html.split("</script>", 1)[1].split("<script>")[0]  # no CDN
    assert "cdn" not in html.lower().split("<body>", 1)[1]
    for name in ("bmi", "bp", "sex", "s2"):
        assert f'"{name}"' in html
    best = api.get(f"/v1/studies/{row.id}", headers=alpha).json()["best_trial"]
    chosen = f"best λ={best['params']['lambda']:.3g}"  # the path marks the best model's λ
    assert _in_figure(chosen, html)
    table = html.split('id="test-metrics"', 1)[1].split("</table>", 1)[0]
    assert "<td>r2</td><td>" in table and "<td>0.42</td><td>-0.013</td>" in table  # beside
    assert "<td>55</td><td>77.5</td>" in table  # the saved model's rmse beside the mean's
    assert _in_figure("saved model λ=0.05", html)  # the refit's own λ, marked too
    assert "the refit raised λ to keep at most 4 non-zero weights" in html
    assert "refit on 353 rows, 4 non-zero weights, λ = 0.05" in html
    assert f"regtune best {row.id} --download" in html
    assert "location.reload" in html and "if (false" in html  # a finished study stays put
    assert "across folds" not in html  # a holdout: the error bars are the λ bin's spread
    assert "counts cover every trial" in html and "the Pareto front cover" not in html
    assert "Solid line: the best trial" in html
    # the inputs enter the path in the order of their unpenalized size
    order = re.search(r"Inputs enter, from large λ to small: (.*?)\.</p>", html)
    assert order is not None, html[-3000:]
    names = [part.split(" (")[0] for part in order.group(1).split(", ")]
    assert names == ["bmi", "bp", "sex", "s2", "age", "s1"], order.group(1)


def test_the_api_builds_the_latest_report_before_it_serves(
    api: TestClient, apps: Apps, caplog: pytest.LogCaptureFixture
) -> None:
    older = finished_study("alpha", n=5)
    latest = finished_study("beta", n=30)
    with caplog.at_level(logging.INFO, logger="regtune.service.api.warm"):
        restarted = apps(database=Apps.database_path(api), admin_key=ADMIN, warm_up=True)
    warmed = [r.getMessage() for r in caplog.records if "report of study" in r.getMessage()]
    assert warmed == [f"built the report of study {latest.id} ahead"]
    restarted.headers["Authorization"] = f"Bearer {ADMIN}"
    for row in (latest, older):  # the one built ahead and another: each page whole
        page = restarted.get(f"/v1/studies/{row.id}/report", headers=_key(restarted, row.tenant))
        assert page.status_code == 200, page.text
        assert _plots(page.text) == 8


def test_another_tenant_gets_404(api: TestClient) -> None:
    row = finished_study("alpha", n=5)
    beta = _key(api, "beta")
    answer = api.get(f"/v1/studies/{row.id}/report", headers=beta)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"
    unknown = {"Authorization": "Bearer not-a-key-of-anyone"}
    assert api.get(f"/v1/studies/{row.id}/report", headers=unknown).status_code == 401


def _download_line(html: str) -> str:
    """The page's line that downloads the best model with curl."""
    line = next((line for line in html.splitlines() if "/best-model" in line), None)
    assert line is not None, html[-3000:]
    return line


def test_the_curl_line_sends_a_key_only_when_the_api_needs_one(apps: Apps) -> None:
    """With no key configured the API is open, and the page's curl line sends no key (it showed
    ``-H "Authorization: Bearer $KEY"`` to an API that had none); with keys on, by the admin
    key or by tenant keys stored under it at an earlier start, it does."""
    bearer = '-H "Authorization: Bearer $KEY"'
    open_api = apps()
    row = finished_study("default", n=5)
    line = _download_line(open_api.get(f"/v1/studies/{row.id}/report").text)
    assert "curl -o " in line and "Authorization" not in line, line

    keys_on = apps(admin_key=ADMIN)
    row = finished_study("alpha", n=5)
    admin = {"Authorization": f"Bearer {ADMIN}"}
    keys_on.headers.update(admin)
    alpha = _key(keys_on, "alpha")
    for headers in (admin, alpha):
        line = _download_line(keys_on.get(f"/v1/studies/{row.id}/report", headers=headers).text)
        assert f"curl {bearer} -o " in line, line

    stored = apps(database=Apps.database_path(keys_on))  # no admin key: stored keys keep keys on
    line = _download_line(stored.get(f"/v1/studies/{row.id}/report", headers=alpha).text)
    assert f"curl {bearer} -o " in line, line


def test_a_queued_study_gets_a_page_that_updates(api: TestClient) -> None:
    row = create_study(_spec("mlp"))
    html = api.get(f"/v1/studies/{row.id}/report").text
    assert 'id="status">queued' in html
    assert 'id="empty"' in html and _plots(html) == 0
    assert "if (true" in html  # reloads itself while the study runs


def test_a_running_study_shows_what_it_has_and_updates(api: TestClient) -> None:
    row = create_study(_spec())
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    rng = random.Random(2)
    study.add_trials([_trial(rng, 10 ** rng.uniform(-4, 0), rng.random(), False) for _ in range(6)])
    study.ask()  # one trial still running
    _set_status(row.id, "running")
    html = api.get(f"/v1/studies/{row.id}/report").text
    assert 'id="status">running' in html and "RUNNING 1" in html
    assert _plots(html) >= 4 and 'id="error"' not in html
    assert "if (true" in html  # reloads itself until the study ends


def test_a_trial_that_finishes_while_the_page_is_read_shows_nowhere_or_everywhere(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page's counts are read first and its samples after: a trial that finishes between
    the two is in neither, or the header says one thing and the plots another."""
    row = create_study(_spec())
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    rng = random.Random(2)
    study.add_trials([_trial(rng, 10 ** rng.uniform(-4, 0), rng.random(), False) for _ in range(6)])
    running = study.ask()
    _set_status(row.id, "running")
    sample = report_reads.sample_points

    def finish_then_sample(*args: Any, **kwargs: Any) -> Any:
        if running.number not in {t.number for t in study.get_trials(states=[TrialState.COMPLETE])}:
            study.tell(running, 0.1)  # a worker finishes it after the counts were read
        return sample(*args, **kwargs)

    monkeypatch.setattr(report_reads, "sample_points", finish_then_sample)
    html = api.get(f"/v1/studies/{row.id}/report").text
    assert "RUNNING 1, COMPLETE 6" in html
    assert "Optimization history (6 sampled COMPLETE trials)" in html
    assert f"Trial {running.number}:" not in html  # the best, at 0.1, finished too late to be


def test_a_failed_study_shows_its_error_and_what_it_has(api: TestClient) -> None:
    row = create_study(_spec())
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    rng = random.Random(1)
    study.add_trials([_trial(rng, 10 ** rng.uniform(-4, 0), rng.random(), False) for _ in range(4)])
    _set_status(row.id, "failed", error="dataset 'gone' was deleted")
    html = api.get(f"/v1/studies/{row.id}/report").text
    assert 'id="status">failed' in html
    assert "dataset &#39;gone&#39; was deleted" in html
    assert _plots(html) >= 4
    assert "No model was saved: the study failed before it completed." in html


@pytest.mark.parametrize(
    ("status", "said"),
    [
        ("completed", " before the study ended (completed): there is nothing to plot."),
        ("running", ": the plots appear once a trial completes with a finite value."),
    ],
    ids=["completed", "running"],
)
def test_a_study_whose_complete_trials_all_diverged_says_so(
    api: TestClient, status: str, said: str
) -> None:
    """An MLP at learning rates of 5 to 10: every trial COMPLETE at +inf. The page counted 6
    COMPLETE trials in its header and said "No trial completed or was pruned" under it."""
    row = create_study(_spec("mlp"))
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    rng = random.Random(3)
    diverged = [
        create_trial(
            state=TrialState.COMPLETE,
            value=math.inf,
            params={"lambda": 10 ** rng.uniform(-4, 0), "l1_ratio": rng.random()},
            distributions=DISTRIBUTIONS,
            user_attrs={"diverged": True, "epochs_run": 1},
        )
        for _ in range(6)
    ]
    add_trials(study, diverged)
    _set_status(row.id, status)

    html = api.get(f"/v1/studies/{row.id}/report").text
    assert "COMPLETE 6" in html and _plots(html) == 0
    expected = f"All 6 COMPLETE trials diverged (their values are ±inf){said}"
    assert f'id="empty">{expected}</p>' in html, html
    assert "No trial completed" not in html and "No COMPLETE trial yet" not in html


def test_the_best_model_is_the_trial_the_study_chose(api: TestClient) -> None:
    """Under ``objective.select: one_se`` the page's best model is the API's best trial (the
    largest λ within one standard error of the best value), with that trial's test metrics."""
    spec = StudySpec.model_validate(
        {
            **_spec().model_dump(mode="json", exclude_none=True),
            "validation": {"folds": 5},
            "objective": {"metric": "val_loss", "select": "one_se"},
        }
    )
    row = create_study(spec)
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    folds = [0.9, 1.1, 1.0, 0.95, 1.05]  # SE ≈ 0.035
    for lam, value, test_loss, fold_values in (
        (0.01, 1.0, 1.25, folds),  # 0: the best value
        (0.1, 1.02, 1.5, None),  # 1: within 1 SE, the largest such λ: the study's choice
        (1.0, 2.0, 2.5, None),  # 2: far outside
    ):
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE,
                value=value,
                params={"lambda": lam, "l1_ratio": 0.5},
                distributions=DISTRIBUTIONS,
                user_attrs={
                    "test_loss": test_loss,
                    **({"fold_values": fold_values} if fold_values else {}),
                },
            )
        )
    _set_status(row.id, "completed")
    shown = api.get(f"/v1/studies/{row.id}").json()
    assert shown["best_trial"]["number"] == 1
    html = api.get(f"/v1/studies/{row.id}/report").text
    assert "Trial 1: val_loss = 1.02" in html
    assert "<td>loss</td><td>1.5</td>" in html  # trial 1's test loss, not trial 0's 1.25
    assert "Trial 0:" not in html
    assert "How it was chosen: one_se: the largest λ whose value is within 1 SE" in html


def test_under_one_se_the_curve_marks_the_best_value_s_lambda_and_the_choice_s(
    api: TestClient,
) -> None:
    """The solid line is the best value's λ (glmnet's lambda.min), the dashed one the trial
    ``select: one_se`` chose (was: the choice marked "best λ", the one-SE line on it too)."""
    spec = StudySpec.model_validate(
        {
            **_spec().model_dump(mode="json", exclude_none=True),
            "validation": {"folds": 5},
            "objective": {"metric": "val_loss", "select": "one_se"},
        }
    )
    row = create_study(spec)
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    folds = [0.9, 1.1, 1.0, 0.95, 1.05]  # SE ≈ 0.035
    for lam, value in ((0.01, 1.0), (0.0123, 1.01), (0.1, 1.02), (0.3, 2.0), (1e-3, 1.5)):
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE,
                value=value,
                params={"lambda": lam, "l1_ratio": 0.5},
                distributions=DISTRIBUTIONS,
                user_attrs={"fold_values": folds if value == 1.0 else [value] * 5},
            )
        )
    _set_status(row.id, "completed")
    assert api.get(f"/v1/studies/{row.id}").json()["best_trial"]["number"] == 2
    html = api.get(f"/v1/studies/{row.id}/report").text
    assert _in_figure("best λ=0.01", html), "the best value's λ is the solid line"
    assert _in_figure("one-SE λ=0.1", html), "the chosen trial's λ is the dashed line"
    assert not _in_figure("best λ=0.1", html)
    assert "Solid line: the λ of trial #0, the best value" in html
    assert "dashed: the λ of trial #2, the study&#39;s choice" in html


def test_a_cancelled_study_says_no_model_was_saved(api: TestClient) -> None:
    """A study cancelled mid-run (one COMPLETE trial, the running ones FAILed by the cancel) has
    its best trial's test metrics, and says in whole sentences that no model was saved."""
    row = create_study(_spec())
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    study.add_trial(_trial(random.Random(2), 0.01, 0.5, False))
    study.add_trial(create_trial(state=TrialState.FAIL, params={}, distributions={}))
    _set_status(row.id, "cancelled")
    html = api.get(f"/v1/studies/{row.id}/report").text
    assert 'id="status">cancelled' in html and "FAIL 1" in html
    assert "Trial 0: val_loss" in html and "<th>best trial</th>" in html
    assert "the saved model." not in html
    assert "<th>saved model</th>" not in html  # no column of dashes for a model that is not
    assert "No model was saved: the study was cancelled before it completed." in html


def test_a_study_whose_every_complete_trial_diverged_says_so(api: TestClient) -> None:
    """Three COMPLETE trials whose loss became infinite (a diverged trial's value, as a worker
    stores it): the page counts them, draws none, and says why no model was saved in words
    that fit them (it said "without a COMPLETE feasible trial" and "0 COMPLETE trials drawn"
    beside "COMPLETE 3")."""
    row = create_study(_spec())
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    for lam in (1e-4, 1e-3, 1e-2):
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE,
                value=math.inf,
                params={"lambda": lam, "l1_ratio": 0.5},
                distributions=DISTRIBUTIONS,
                user_attrs={"diverged": True},
            )
        )
    _set_status(row.id, "completed", error="no best model: no COMPLETE trial with a finite value")
    html = api.get(f"/v1/studies/{row.id}/report").text
    assert "COMPLETE 3" in html
    assert "0 COMPLETE trials with a finite value drawn" in html
    assert "feasible trial." not in html
    assert "without a COMPLETE trial that has a finite value and meets its constraints" in html


def test_a_study_cancelled_before_any_trial_finished_does_not_promise_plots(
    api: TestClient,
) -> None:
    """An MLP study cancelled while its first trials ran (each FAILed by the cancel) will never
    have plots: its page says so instead of "the plots appear as trials finish"."""
    row = create_study(_spec("mlp"))
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    for _ in range(4):
        study.add_trial(create_trial(state=TrialState.FAIL, params={}, distributions={}))
    _set_status(row.id, "cancelled")
    html = api.get(f"/v1/studies/{row.id}/report").text
    assert 'id="status">cancelled' in html and "FAIL 4" in html and _plots(html) == 0
    assert "appear as trials finish" not in html
    assert "No trial completed or was pruned before the study ended (cancelled)" in html
    assert "if (false" in html  # an ended study's page does not reload itself


def test_a_study_its_deadline_completed_before_any_trial_says_so(api: TestClient) -> None:
    """Was: "0 of 2 trials done ()", a reason for no model that named diverged and pruned
    trials where none ran, and the sampling notes of plots the page does not have."""
    row = create_study(_spec())
    _set_status(row.id, "completed")
    html = api.get(f"/v1/studies/{row.id}/report").text
    assert 'id="status">completed' in html and _plots(html) == 0
    assert "trials done ()" not in html and "trials done\n" in html, html
    assert "completed before any trial finished (its deadline" in html
    assert "every trial diverged" not in html and "Sampled from the database" not in html


def test_an_mlp_without_l1_plots_nothing_against_its_non_zero_weights(api: TestClient) -> None:
    """Under pure L2 (``l1_ratio: 0``, as in examples/digits-mlp-dropout.yaml) no weight of an
    MLP reaches zero: every trial has all of them, and plots against that count would be one
    column of points. The page leaves them out and says why; the validation curve stays."""
    row = create_study(_spec("mlp"))
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    rng = random.Random(3)
    for _ in range(12):
        trial = _trial(rng, 10 ** rng.uniform(-4, 0), 0.0, False, dropout=rng.uniform(0, 0.5))
        trial.set_user_attr("n_nonzero", 4736)
        study.add_trial(trial)
    _set_status(row.id, "completed")
    html = api.get(f"/v1/studies/{row.id}/report").text
    assert not _in_figure("against non-zero weights", html)
    assert not _in_figure("Non-zero weights against λ", html)
    assert "val_loss against sparsity" not in html
    assert "Every trial kept the same number of non-zero weights" in html
    assert "the path shows each trial's non-zero weights" not in html
    assert _in_figure("Validation curve", html) and _plots(html) >= 3


def test_a_multi_objective_study_names_its_objectives_and_front(api: TestClient) -> None:
    """``objectives: [val_loss, n_nonzero]``: the page names both objectives, says which trial of
    the front it details, and lists the front (the trials no other dominates), as
    ``regtune show`` does."""
    spec = StudySpec.model_validate(
        {
            **_spec().model_dump(mode="json", exclude_none=True, exclude={"objective"}),
            "objectives": ["val_loss", "n_nonzero"],
            "pruner": {"type": "none"},
        }
    )
    row = create_study(spec)
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    for lam, values in ((0.01, [0.30, 6.0]), (0.1, [0.35, 3.0]), (0.05, [0.40, 4.0])):
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE,
                values=values,
                params={"lambda": lam, "l1_ratio": 0.5},
                distributions=DISTRIBUTIONS,
                user_attrs={"n_nonzero": values[1]},
            )
        )
    _set_status(row.id, "completed")
    shown = api.get(f"/v1/studies/{row.id}").json()
    assert sorted(t["number"] for t in shown["pareto_front"]) == [0, 1]
    html = api.get(f"/v1/studies/{row.id}/report").text
    assert "objectives val_loss (minimize), n_nonzero (minimize)" in html
    assert "Trial 0 (the Pareto front's best val_loss): val_loss = 0.3" in html
    assert "; 6 non-zero weights." in html  # a count, though stored as 6.0 (a mean over folds)
    front = html.split('id="pareto-front"', 1)[1].split("</table>", 1)[0]
    assert "<td>0</td><td>0.3</td><td>6</td>" in front
    assert "<td>1</td><td>0.35</td><td>3</td>" in front
    assert "<td>2</td>" not in front  # dominated by trial 1
    assert "counts and the Pareto front cover every trial" in html


def test_choices_are_drawn_at_their_values_not_their_indices(api: TestClient) -> None:
    """A grid over λ and l1_ratio choices: Optuna stores a choice as its index (λ's first, 0,
    has no logarithm), and the page draws and names the values themselves."""
    lambdas, ratios = [0.001, 0.01, 0.1, 1.0], [0.0, 0.5, 1.0]
    spec = StudySpec.model_validate(
        {
            **_spec().model_dump(mode="json", exclude_none=True),
            "search_space": {"lambda": {"choices": lambdas}, "l1_ratio": {"choices": ratios}},
            "sampler": {"type": "grid"},
            "training": {"lambda_path": None},
        }
    )
    row = create_study(spec)
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    choices: dict[str, BaseDistribution] = {
        "lambda": CategoricalDistribution(lambdas),
        "l1_ratio": CategoricalDistribution(ratios),
    }
    for lam in lambdas:
        for l1 in ratios:
            cut = lam * (0.2 + l1)
            shrunk = [math.copysign(max(0.0, abs(t) - cut), t) for t in TRUE]
            study.add_trial(
                create_trial(
                    value=0.3 + 0.05 * (math.log10(lam) + 2) ** 2 + 0.02 * l1,
                    params={"lambda": lam, "l1_ratio": l1},
                    distributions=choices,
                    system_attrs={COEFFICIENTS_ATTR: encode(FEATURES, shrunk)},
                    user_attrs={"n_nonzero": sum(1 for w in shrunk if w)},
                )
            )
    _set_status(row.id, "completed")
    answer = api.get(f"/v1/studies/{row.id}/report")
    assert answer.status_code == 200, answer.text[-2000:]
    named = set(re.findall(r"\(λ=([^)]*)\)", answer.text))
    assert named and named <= {"0.001", "0.01", "0.1", "1"}, named
    assert "Trial 3: val_loss = 0.3" in answer.text  # λ 0.01, l1_ratio 0


def test_the_best_trial_names_a_boolean_choice_as_such(api: TestClient) -> None:
    """An MLP study searching ``batch_norm`` and ``batch_size`` among choices: the best trial's
    line says ``batch_norm = False`` and ``batch_size = 32``, as ``regtune show`` does, not the
    number a float format makes of them (``0``)."""
    spec = StudySpec.model_validate(
        {
            **_spec("mlp").model_dump(mode="json", exclude_none=True),
            "search_space": {
                "lambda": {"low": 1e-4, "high": 1.0, "log": True},
                "batch_norm": {"choices": [True, False]},
                "batch_size": {"choices": [32, 128]},
            },
        }
    )
    row = create_study(spec)
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    choices = {
        "lambda": DISTRIBUTIONS["lambda"],
        "batch_norm": CategoricalDistribution([True, False]),
        "batch_size": CategoricalDistribution([32, 128]),
    }
    for value, norm, size in ((0.4, True, 128), (0.3, False, 32)):
        study.add_trial(
            create_trial(
                value=value,
                params={"lambda": 0.01, "batch_norm": norm, "batch_size": size},
                distributions=choices,
                intermediate_values={1: value},
                user_attrs={"n_nonzero": 10},
            )
        )
    _set_status(row.id, "completed")
    answer = api.get(f"/v1/studies/{row.id}/report")
    assert answer.status_code == 200, answer.text[-2000:]
    best = re.search(r"Trial 1: val_loss = 0.3\s+with ([^;]*);", answer.text)
    assert best is not None, answer.text
    assert best.group(1).split(", ") == ["batch_norm = False", "batch_size = 32", "lambda = 0.01"]


def test_client_and_cli_write_the_page(
    api: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from regtune.service.cli import output
    from regtune.service.cli.app import app
    from regtune.service.client.http import Client

    row = finished_study("default", n=10)
    transport = api._transport  # the app in-process, as the TestClient reaches it

    def in_process(url: str | None, *, key: str | None = None) -> Client:
        return Client("http://testserver", key=ADMIN, transport=transport)

    with in_process(None) as client:
        html = client.report(row.id, tmp_path / "client.html")
    assert (tmp_path / "client.html").read_text(encoding="utf-8") == html
    assert _plots(html) >= 6

    monkeypatch.setattr(output, "Client", in_process)
    out = tmp_path / "cli.html"
    result = CliRunner().invoke(app, ["report", row.id, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output.replace("\n", "")
    assert _plots(out.read_text(encoding="utf-8")) == _plots(html)


def test_cli_watch_rewrites_the_page_until_the_study_ends(
    api: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from typer.testing import CliRunner

    from regtune.service.cli import output
    from regtune.service.cli.app import app
    from regtune.service.client.http import Client

    row = create_study(_spec())
    transport = api._transport
    monkeypatch.setattr(
        output,
        "Client",
        lambda url, *, key=None: Client("http://testserver", key=ADMIN, transport=transport),
    )
    out = tmp_path / "live.html"
    ends = threading.Timer(1.0, _set_status, args=(row.id, "failed", "failed by a test"))
    ends.start()
    result = CliRunner().invoke(app, ["report", row.id, "-o", str(out), "--watch", "--poll", "0.2"])
    ends.join()
    assert result.exit_code == 0, result.output
    assert "the study has ended" in result.output
    final = out.read_text(encoding="utf-8")
    assert 'id="status">failed' in final and "failed by a test" in final
    assert "if (false" in final  # the final page no longer reloads itself


def test_a_rewrite_replaces_the_page_whole(api: TestClient, tmp_path: Path) -> None:
    """A page open while ``report --watch`` rewrites it keeps the whole page it opened (the file
    was truncated and written in place: a reload meanwhile, or Ctrl-C mid-write, read half)."""
    from regtune.service.client.http import Client

    row = create_study(_spec())
    out = tmp_path / "live.html"
    with Client("http://testserver", key=ADMIN, transport=api._transport) as client:
        first = client.report(row.id, out)
        with out.open(encoding="utf-8") as opened:  # as a browser holds the page it reads
            _set_status(row.id, "cancelled", "cancelled by a test")
            second = client.report(row.id, out)
            assert opened.read() == first
    assert first != second and out.read_text(encoding="utf-8") == second
    assert not out.with_name(out.name + ".part").exists()


def test_the_one_se_lambda_is_never_below_the_best_trial_s_in_its_bin() -> None:
    """The dashed line was the centre of the bin that qualified: when that was the best trial's
    own bin, it sat left of the best λ, a "sparsest model as good as the best" less regularized
    than the best (an MLP study showed one-SE λ≈3.09e-06 beside best λ=4e-06)."""
    from regtune.service.api.report_paths import chosen_lambda
    from regtune.service.store.trials.report import Point, ReportData

    def point(number: int, lam: float, value: float) -> Point:
        return Point(number=number, value=value, params={"lambda": lam}, n_nonzero=None)

    # 20 bins of 0.2 decades over [1e-4, 1]: the good bin is [0.01, 0.0158), centre 0.0126
    good = [point(0, 0.0101, 0.31), point(1, 0.0105, 0.305), point(2, 0.015, 0.30)]
    bad = [point(3 + i, 10 ** (-4 + i / 2), 1.0 + i / 100) for i in range(9) if i != 4]
    points = good + bad
    data = ReportData(counts={}, points=points, band=points, band_l1=None, best=good[2], front=[])
    chosen = chosen_lambda(data, "minimize")
    assert chosen.best == 0.015 and chosen.one_se == 0.015


def test_the_one_se_lambda_is_never_below_the_best_trial_s_outside_the_best_bin() -> None:
    """The best trial alone at a larger λ than the bin with the best mean, whose one-SE range
    reaches no larger bin: the dashed line sat at the smaller λ (best λ=0.0336 beside one-SE
    λ≈0.00194 on a 1,500-trial study), a "sparser" choice less regularized than the best."""
    from regtune.service.api.report_paths import chosen_lambda
    from regtune.service.store.trials.report import Point, ReportData

    def point(number: int, lam: float, value: float) -> Point:
        return Point(number=number, value=value, params={"lambda": lam}, n_nonzero=None)

    # 20 bins of 0.2 decades over [1e-4, 1]; the best mean at 0.002, tight; the best trial at
    # 0.0336 among worse ones
    tight = [point(i, 0.002 + i * 1e-5, 0.40 + i * 1e-4) for i in range(5)]
    best = point(5, 0.0336, 0.39)
    around = [point(6, 0.034, 0.47), point(7, 0.035, 0.48)]
    ends = [point(8, 1e-4, 0.9), point(9, 1.0, 0.9)]
    points = [*tight, best, *around, *ends]
    data = ReportData(counts={}, points=points, band=points, band_l1=None, best=best, front=[])
    chosen = chosen_lambda(data, "minimize")
    assert chosen.best == 0.0336 and chosen.one_se == 0.0336, chosen


def test_a_maximized_study_s_search_keeps_its_best_trials() -> None:
    """Past ``SEARCH_TRIALS`` sampled trials the search's figures keep the best
    ``BEST_KEPT`` besides evenly spaced ones: in a maximized study they were the lowest values,
    its worst (a 1,500-trial study's best, #951, was missing from its history)."""
    from regtune.service.api.report_figures import BEST_KEPT, SEARCH_TRIALS, search_points
    from regtune.service.store.trials.report import Point, ReportData

    rng = random.Random(1)
    points = [
        Point(number=i, value=rng.uniform(0.3, 0.5), params={"lambda": 0.1}, n_nonzero=None)
        for i in range(3 * SEARCH_TRIALS + 7)
    ]
    data = ReportData(counts={}, points=points, band=[], band_l1=None, best=None, front=[])
    for direction, sign in (("maximize", -1), ("minimize", 1)):
        kept = {p.number for p in search_points(data, direction)}
        ranked = sorted(points, key=lambda p: sign * p.value)
        assert {p.number for p in ranked[:BEST_KEPT]} <= kept, direction
        assert len(kept) <= SEARCH_TRIALS + BEST_KEPT


def test_the_sampled_learning_curves_span_the_whole_study(api: TestClient) -> None:
    """They were the first 15 of every fourth stride: trials 0-350 of a 1,500-trial study."""
    row = finished_study("default", n=600)
    assert row.optuna_study_id is not None
    with transaction() as session:
        counts, _ = report_reads.state_counts(session, row.optuna_study_id)
        curves = sample_curves(session, row.optuna_study_id, counts=counts)
    numbers = sorted(curves["COMPLETE"])
    assert len(numbers) == CURVES, numbers
    assert numbers[0] < 60 and numbers[-1] > 480, numbers
