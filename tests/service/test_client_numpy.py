"""numpy's numbers in a request's body (a notebook's ``np.int64``, ``np.float32``, a pandas
row's values) are sent as the numbers they hold (was: the JSON encoder's bare ``TypeError:
Object of type int64 is not JSON serializable``, no ``ClientError``), and a NaN among them is
refused naming where it is, as a float's is."""

from __future__ import annotations

import contextvars
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

import regtune
from tests.service.test_client_optuna import STUDY, ThroughApp

MINIBATCH: dict[str, Any] = STUDY | {
    "search_space": {
        "lambda": {"low": 1e-4, "high": 1.0, "log": True},
        "l1_ratio": 0.5,
        "batch_size": {"choices": [32, 64]},
    },
    "training": {"solver": "minibatch", "max_epochs": 1},
}
"""A study with a searched whole-number knob, so that its trials' frame holds an int64 column."""
NEVER = httpx.MockTransport(lambda request: pytest.fail(f"asked {request.url}"))


def test_numpy_numbers_are_sent_as_the_numbers_they_hold(api: TestClient) -> None:
    from regtune.worker.loop import Worker

    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as rt:
        budget = {"n_trials": np.int64(2), "max_parallel": np.int64(1)}
        study = rt.submit(MINIBATCH | {"budget": budget})
        assert study.definition["budget"]["n_trials"] == 2
        assert contextvars.copy_context().run(Worker().run, max_trials=1) == 1
        row = rt.trials_dataframe(study.id).iloc[0]  # numpy's values, an int64 among them
        assert isinstance(row["params_batch_size"], np.int64)

        grown = rt.extend(study.id, np.int64(1), timeout_s=np.float32(60))  # type: ignore[arg-type]
        assert grown.study.definition["budget"]["n_trials"] == 3
        assert grown.study.definition["budget"]["timeout_s"] == 60

        points: list[dict[str, Any]] = [
            {"lambda": np.float32(0.25), "batch_size": np.int64(32)},
            {"lambda": row["params_lambda"], "batch_size": row["params_batch_size"]},
        ]
        grown = rt.extend(study.id, points=points)
    assert grown.study.definition["budget"]["n_trials"] == 5
    assert grown.study.definition["sampler"]["points_to_evaluate"] == [
        {"lambda": 0.25, "batch_size": 32},
        {"lambda": float(row["params_lambda"]), "batch_size": int(row["params_batch_size"])},
    ]


@pytest.mark.parametrize(
    ("request_", "argument"),
    [
        (lambda rt: rt.extend("s1", 1, timeout_s=np.float32("nan")), "timeout_s"),
        (lambda rt: rt.extend("s1", np.float32("nan")), "n_trials"),
        (lambda rt: rt.extend("s1", points=[{"lambda": np.float32("nan")}]), "points[0].lambda"),
        (
            lambda rt: rt.submit(
                STUDY | {"budget": {"n_trials": 3, "timeout_s": np.float32("nan")}}
            ),
            "definition.budget.timeout_s",
        ),
    ],
)
def test_a_numpy_nan_is_refused_naming_its_argument(request_: Any, argument: str) -> None:
    with (
        regtune.Client("http://regtune.test", transport=NEVER) as rt,
        pytest.raises(regtune.InvalidArgument) as refused,
    ):
        request_(rt)
    assert refused.value.argument == argument
    assert str(refused.value) == (
        f"{argument}: must be a finite number (JSON has no NaN or infinity), got nan"
    )
