"""What a notebook user expects from Optuna, through the client: ``trials_dataframe``,
``best_params``, ``best_value``, checked against Optuna's own answers on the same database."""

from __future__ import annotations

import contextvars
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import optuna
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import regtune
from regtune.service.settings import get_settings
from tests.definitions import DIVERGING

STUDY = {
    "name": "notebook",
    "dataset": {"builtin": "diabetes"},
    "model": {"kind": "linear"},
    "search_space": {"lambda": {"low": 1e-4, "high": 1.0, "log": True}, "l1_ratio": 0.5},
    # one trial per claim, so that three claims run the budget (a λ path would take it in two)
    "training": {"max_iter": 200, "report_every": 50, "lambda_path": None},
    "sampler": {"type": "random", "seed": 0},
    "pruner": {"type": "none"},
    "budget": {"n_trials": 3, "max_parallel": 1},
}
OPTUNA_ATTRS = (
    "number",
    "value",
    "datetime_start",
    "datetime_complete",
    "duration",
    "params",
    "user_attrs",
    "state",
)


class ThroughApp(httpx.BaseTransport):
    """The client's requests answered by the app in this process."""

    def __init__(self, app: TestClient) -> None:
        self.app = app

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.app.request(
            request.method,
            request.url.raw_path.decode("ascii"),
            headers=request.headers,
            content=request.read(),
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)


def test_the_client_answers_as_optuna_does_on_the_same_study(api: TestClient) -> None:
    from regtune.worker.loop import Worker

    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as client:
        study = client.submit(STUDY)
        with pytest.raises(ValueError, match="no completed trial"):
            client.best_value(study.id)
        assert contextvars.copy_context().run(Worker().run, max_trials=3) == 3
        frame = client.trials_dataframe(study.id)
        best_params, best_value = client.best_params(study.id), client.best_value(study.id)
        name = client.study(study.id).optuna_study_name

    theirs = optuna.load_study(study_name=name, storage=get_settings().database_url)
    expected = theirs.trials_dataframe(attrs=OPTUNA_ATTRS)
    expected["state"] = expected["state"].astype(str)
    assert list(frame.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(
        frame[["number", "value_val_loss", "params_lambda", "state"]],
        expected[["number", "value_val_loss", "params_lambda", "state"]],
        check_dtype=False,
    )
    assert (frame["duration"] > pd.Timedelta(0)).all()
    times = ["datetime_start", "datetime_complete", "duration"]
    pd.testing.assert_frame_equal(frame[times], expected[times])  # naive local time, as Optuna's
    assert best_params == theirs.best_params
    assert best_value == pytest.approx(theirs.best_value)


def test_trial_times_read_as_optuna_gives_them_across_a_change_of_clock(
    api: TestClient, oslo_time: None
) -> None:
    """Trials before and after daylight saving time began: the API answers their times in UTC
    (it gave Optuna's stored UTC times with the local offset, an hour off), and the frame has
    Optuna's naive local times (it raised ValueError, a column of mixed offsets being no
    datetime column for pandas)."""
    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as client:
        study = client.submit(STUDY | {"name": "clock"})
        name = client.study(study.id).optuna_study_name
        theirs = optuna.load_study(study_name=name, storage=get_settings().database_url)
        distribution = optuna.distributions.FloatDistribution(1e-4, 1.0, log=True)
        for day, value in ((28, 0.5), (30, 0.4)):
            start = datetime(2026, 3, day, 11, 0, tzinfo=UTC)
            theirs.add_trial(
                optuna.trial.FrozenTrial(
                    number=0,
                    state=optuna.trial.TrialState.COMPLETE,
                    value=value,
                    datetime_start=start,
                    datetime_complete=start.replace(minute=5),
                    params={"lambda": 0.01},
                    distributions={"lambda": distribution},
                    user_attrs={},
                    system_attrs={},
                    intermediate_values={},
                    trial_id=0,
                )
            )
        frame = client.trials_dataframe(study.id)
        first = client.trial(study.id, 0)

    assert first.datetime_start == datetime(2026, 3, 28, 11, 0, tzinfo=UTC)
    expected = theirs.trials_dataframe(attrs=OPTUNA_ATTRS)
    assert expected["datetime_start"].dt.hour.tolist() == [12, 13]  # local: +01:00, then +02:00
    times = ["datetime_start", "datetime_complete", "duration"]
    pd.testing.assert_frame_equal(frame[times], expected[times])


def test_best_value_and_params_of_several_objectives_are_an_error_as_in_optuna(
    api: TestClient,
) -> None:
    """The API's ``best_trial`` of such a study is one trial of the front (the best first
    objective, with its ``value``): the client does not pass it off as the best."""
    from regtune.worker.loop import Worker

    pareto = STUDY | {"name": "front", "objectives": ["val_loss", "n_nonzero"]}
    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as client:
        study = client.submit(pareto)
        assert contextvars.copy_context().run(Worker().run, max_trials=3) == 3
        done = client.study(study.id)
        assert done.best_trial is not None and done.best_trial.value is not None
        for helper in (client.best_value, client.best_params):
            with pytest.raises(RuntimeError, match="2 objectives") as caught:
                helper(study.id)
            assert "pareto_front" in str(caught.value) and "best_trials" in str(caught.value)
        frame = client.trials_dataframe(study.id)  # the front's trials, with both values

    theirs = optuna.load_study(
        study_name=done.optuna_study_name, storage=get_settings().database_url
    )
    with pytest.raises(RuntimeError):
        theirs.best_value  # noqa: B018 - the property raises
    assert {"values_val_loss", "values_n_nonzero"} <= set(frame.columns)
    assert done.pareto_front and {t.number for t in done.pareto_front} == {
        t.number for t in theirs.best_trials
    }


def test_a_dataframe_uploads_as_its_csv_would(api: TestClient, tmp_path: Path) -> None:
    """Text stays text, a NaN is a missing cell, the index is left out: the same dataset (the
    same id) as the DataFrame's CSV file uploaded from disk."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=40),
            "city": ["oslo", "bergen"] * 20,
            "y": rng.normal(size=40),
        },
        index=pd.RangeIndex(100, 140, name="row"),
    )
    frame.loc[103, "x"] = np.nan
    path = tmp_path / "frame.csv"
    frame.to_csv(path, index=False)
    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as client:
        uploaded = client.upload_dataset(frame, target="y", ignore=[])
        from_file = client.upload_dataset(path, target="y")
    assert uploaded.id == from_file.id
    assert uploaded.feature_names == ["x", "city=bergen", "city=oslo"]
    assert "row" not in [c.name for c in uploaded.columns]


def test_a_diverged_trial_reads_as_optuna_stores_it(api: TestClient) -> None:
    """A diverged trial is COMPLETE at +inf with NaN metrics: the API's JSON carries null for
    both, and the frame read them back as None in object columns, where Optuna's frame has inf
    and NaN in float columns (``df[df.value_val_loss == np.inf]`` found nothing)."""
    from regtune.worker.loop import Worker

    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as client:
        study = client.submit(DIVERGING)
        assert contextvars.copy_context().run(Worker().run, max_trials=1) == 1
        frame = client.trials_dataframe(study.id)
        name = client.study(study.id).optuna_study_name

    theirs = optuna.load_study(study_name=name, storage=get_settings().database_url)
    expected = theirs.trials_dataframe(attrs=OPTUNA_ATTRS)
    assert expected["user_attrs_diverged"].tolist() == [True]
    columns = ["value_val_loss", "user_attrs_val_loss", "user_attrs_val_rmse"]
    assert expected["value_val_loss"].tolist() == [np.inf]
    pd.testing.assert_frame_equal(frame[columns], expected[columns])
