"""Values the client refuses before any request, as ``InvalidArgument`` naming the argument,
where it used to send something else than what it was given."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from regtune.service.api.schemas.studies import STUDY_WAIT_MAX
from regtune.service.client.errors import ApiError, InvalidArgument
from regtune.service.client.http import Client
from tests.service.test_client_optuna import STUDY, ThroughApp


def asked() -> tuple[list[str], httpx.MockTransport]:
    """A transport answering every request 404, and the paths it was asked for."""
    paths: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        error = {"code": "not_found", "message": "no such trial", "fields": []}
        return httpx.Response(404, json={"error": error})

    return paths, httpx.MockTransport(answer)


@pytest.mark.parametrize("number", [2.7, 2.0, True, "2"])
def test_a_trial_number_that_is_no_int_is_refused(number: object) -> None:
    """``trial(id, 2.7)`` answered trial 2, ``trial(id, True)`` trial 1."""
    paths, transport = asked()
    rt = Client("http://regtune.test", transport=transport)
    with rt, pytest.raises(InvalidArgument) as refused:
        rt.trial("s1", number)  # type: ignore[arg-type]
    assert refused.value.argument == "number"
    assert f"must be a trial number, an int, got {number!r}" in str(refused.value)
    assert paths == []


def test_a_numpy_trial_number_is_asked_for() -> None:
    """A number from ``trials_dataframe()["number"]`` is numpy's int64."""
    paths, transport = asked()
    with Client("http://regtune.test", transport=transport) as rt, pytest.raises(ApiError):
        rt.trial("s1", np.int64(2))  # type: ignore[arg-type]
    assert paths == ["/v1/studies/s1/trials/2"]


@pytest.mark.parametrize(
    ("given", "root"),
    [
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000/v1/", "http://127.0.0.1:8000"),
        ("https://tools.example/regtune/v1", "https://tools.example/regtune"),
        ("http://v1", "http://v1"),  # a host of that name
    ],
)
def test_a_url_ending_with_the_routes_prefix_is_taken_for_the_servers_root(
    given: str, root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``REGTUNE_URL=http://host:8000/v1`` asked for ``/v1/v1/studies``: a bare 404."""
    paths, transport = asked()
    for url, variable in ((given, None), (None, given)):
        if variable is not None:
            monkeypatch.setenv("REGTUNE_URL", variable)
        rt = Client(url, transport=transport)
        with rt, pytest.raises(ApiError):
            rt.study("s1")
        assert rt.url == rt.shown_url == root
    prefix = httpx.URL(root).path.rstrip("/")
    assert paths == [f"{prefix}/v1/studies/s1"] * 2


@pytest.mark.parametrize("given", ["http://", "https://", "http:///"])
def test_a_url_without_a_host_is_quoted_as_given(given: str) -> None:
    """``Client("http://")`` said ``got 'http:'``: the slashes it ends with were stripped first."""
    with pytest.raises(InvalidArgument) as refused:
        Client(given)
    assert refused.value.argument == "url"
    assert refused.value.rule.endswith(f"got {given!r}")


@pytest.mark.parametrize("hold", [float("nan"), float("inf"), 0, -90, 61, 60.5])
def test_a_hold_the_api_cannot_keep_is_refused_naming_it(hold: float) -> None:
    """``study(id, hold=nan)`` ended in the socket's bare ``ValueError: Invalid value NaN``: the
    hold lengthens the read's timeout; ``hold=61`` in the API's ``422 invalid_request: wait:
    Input should be less than or equal to 60``, naming ``wait``, which the caller never wrote."""
    paths, transport = asked()
    with (
        Client("http://regtune.test", transport=transport) as rt,
        pytest.raises(InvalidArgument) as refused,
    ):
        rt.study("s1", hold=hold)
    assert refused.value.argument == "hold"
    assert refused.value.rule == (
        "must be a number of seconds above 0, at most 60 (the API holds an answer no longer), "
        f"got {hold!r}"
    )
    assert paths == []


def test_the_longest_hold_is_the_apis(api: TestClient) -> None:
    with Client("http://regtune.test", transport=ThroughApp(api)) as rt:
        study = rt.submit(STUDY)
        rt.cancel(study.id)  # ended: the API answers at once
        assert rt.study(study.id, hold=STUDY_WAIT_MAX).status == "cancelled"


def test_an_empty_list_of_points_is_sent_for_the_api_to_say_what_points_need(
    api: TestClient,
) -> None:
    """``extend(id, points=[])`` left the list out, and the API answered that n_trials was
    required."""
    study_id = api.post("/v1/studies", json=STUDY).json()["id"]
    with (
        Client("http://testserver", transport=ThroughApp(api)) as rt,
        pytest.raises(ApiError) as refused,
    ):
        rt.extend(study_id, points=[])
    assert refused.value.status == 422
    assert [field.path for field in refused.value.fields] == ["points_to_evaluate"]
    assert "at least 1 item" in refused.value.fields[0].rule
