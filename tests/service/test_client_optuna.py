"""What a notebook user expects from Optuna, through the client: ``trials_dataframe``,
``best_params``, ``best_value``, checked against Optuna's own answers on the same database."""

from __future__ import annotations

import contextvars
from pathlib import Path

import httpx
import numpy as np
import optuna
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import regtune
from regtune.service.settings import get_settings

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
    assert best_params == theirs.best_params
    assert best_value == pytest.approx(theirs.best_value)


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
