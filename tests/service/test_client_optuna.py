"""What a notebook user expects from Optuna, through the client: ``trials_dataframe``,
``best_params``, ``best_value``, checked against Optuna's own answers on the same database."""

from __future__ import annotations

import contextvars

import httpx
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
    "training": {"max_iter": 200, "report_every": 50},
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
