"""The seconds ``Client.wait`` is given are refused, before any request, as ``InvalidArgument``
naming the argument when no wait can keep to them: a NaN compares false with every time, so
``rt.wait(id, timeout=float("nan"))`` never timed out (``model_grace`` never ended, ``patience``
asked an API that is away for ever), a negative number is no length of time, and ``poll=inf``
ended in ``time.sleep``'s ``OverflowError``. An infinite timeout, grace or patience is no limit."""

from __future__ import annotations

import math

import httpx
import pytest
from fastapi.testclient import TestClient

import regtune
from tests.service.test_client_optuna import STUDY, ThroughApp

NEVER = httpx.MockTransport(lambda request: pytest.fail(f"asked {request.url}"))


@pytest.mark.parametrize(
    ("argument", "given"),
    [
        ("timeout", math.nan),
        ("timeout", -1),
        ("model_grace", math.nan),
        ("model_grace", -0.5),
        ("patience", math.nan),
        ("patience", -1.0),
        ("poll", math.nan),
        ("poll", math.inf),
        ("poll", 0),
    ],
)
def test_a_wait_that_no_clock_can_keep_to_is_refused_naming_its_argument(
    argument: str, given: float
) -> None:
    with (
        regtune.Client("http://regtune.test", transport=NEVER) as rt,
        pytest.raises(regtune.InvalidArgument) as refused,
    ):
        rt.wait("s1", **{argument: given})  # type: ignore[arg-type]
    seconds = " above 0" if argument == "poll" else ", 0 or more"
    assert refused.value.argument == argument
    assert str(refused.value) == f"{argument}: must be a number of seconds{seconds}, got {given!r}"


def test_an_infinite_wait_is_no_limit(api: TestClient) -> None:
    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as rt:
        study = rt.submit(STUDY)
        rt.cancel(study.id)
        ended = rt.wait(study.id, timeout=math.inf, model_grace=math.inf, patience=math.inf)
    assert ended.status == "cancelled"
