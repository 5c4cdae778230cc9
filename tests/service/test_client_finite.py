"""NaN and infinity in a JSON body (JSON has neither): the client names the argument that holds
one, before any request, and the CLI names its option in one line with a usage error's status
(was: httpx's bare "ValueError: Out of range float values are not JSON compliant", a traceback
in the CLI)."""

from __future__ import annotations

import math
import sys

import httpx
import pytest
from fastapi.testclient import TestClient

from regtune.service.client.errors import InvalidArgument
from regtune.service.client.http import Client
from tests.inprocess import cli_result
from tests.service.test_client_optuna import STUDY

NEVER = httpx.MockTransport(lambda request: pytest.fail(f"asked {request.url}"))


@pytest.mark.parametrize(
    ("request_", "argument", "given"),
    [
        (lambda rt: rt.extend("s1", timeout_s=math.inf), "timeout_s", "inf"),
        (lambda rt: rt.extend("s1", n_trials_total=9, timeout_s=math.nan), "timeout_s", "nan"),
        (
            lambda rt: rt.extend("s1", points=[{"lambda": 0.1}, {"lambda": float("1e400")}]),
            "points[1].lambda",
            "inf",
        ),
        (
            lambda rt: rt.submit(STUDY | {"budget": {"n_trials": 3, "timeout_s": -math.inf}}),
            "definition.budget.timeout_s",
            "-inf",
        ),
    ],
)
def test_a_non_finite_number_is_refused_naming_its_argument(
    request_: object, argument: str, given: str
) -> None:
    with (
        Client("http://regtune.test", transport=NEVER) as rt,
        pytest.raises(InvalidArgument) as refused,
    ):
        request_(rt)  # type: ignore[operator]
    assert refused.value.argument == argument
    assert str(refused.value) == (
        f"{argument}: must be a finite number (JSON has no NaN or infinity), got {given}"
    )


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--point", "{lambda: .nan, l1_ratio: 0.5}"], "--point #1, lambda: must be a finite"),
        (
            ["--point", "{lambda: 0.1}", "--point", "{lambda: 1e400}"],
            "--point #2, lambda: must be a finite number (JSON has no NaN or infinity), got inf",
        ),
    ],
)
def test_extend_names_the_point_holding_a_non_finite_number(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, args: list[str], said: str
) -> None:
    study = api.post("/v1/studies", json=STUDY).json()
    result = cli_result(api, monkeypatch, "extend", study["id"], *args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert f"error: {said}" in " ".join(result.output.split())
    assert api.get(f"/v1/studies/{study['id']}").json()["progress"]["n_trials"] == 3


def test_an_integer_too_long_to_write_out_is_refused_naming_its_argument() -> None:
    """``submit({... "n_trials": 10**5000})`` ended in the JSON encoder's bare ``ValueError``."""
    limit = f"{sys.get_int_max_str_digits():,}"
    with (
        Client("http://regtune.test", transport=NEVER) as rt,
        pytest.raises(InvalidArgument) as refused,
    ):
        rt.submit(STUDY | {"budget": {"n_trials": 10**5000}})
    assert refused.value.argument == "definition.budget.n_trials"
    assert refused.value.rule == (
        f"must be an integer of at most {limit} digits (Python writes no longer one out as JSON "
        f"text), got one of more than {limit}"
    )
