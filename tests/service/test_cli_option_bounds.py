"""A count or offset out of the API's range is a usage error naming the option (exit 2), before
any request: ``ls --limit 0`` was exit 1 with the API's 422 at ``limit``, ``extend --trials 0``
at ``n_trials``, ``extend --timeout -5`` at ``timeout_s``."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.inprocess import cli_result
from tests.service.test_client_optuna import STUDY


@pytest.mark.parametrize(
    ("command", "option", "value", "rule"),
    [
        ("ls", "--limit", "0", "greater than or equal to 1"),
        ("ls", "--offset", "-3", "greater than or equal to 0"),
        ("ls", "--offset", "1000001", "less than or equal to 1000000"),
        ("trials", "--limit", "0", "greater than or equal to 1"),
        ("trials", "--offset", "10000001", "less than or equal to 10000000"),
        ("datasets ls", "--limit", "0", "greater than or equal to 1"),
        ("datasets ls", "--offset", "-1", "greater than or equal to 0"),
        ("extend", "--trials", "0", "greater than or equal to 1"),
        ("extend", "--trials", "1000001", "less than or equal to 1000000"),
        ("extend", "--to", "1000001", "less than or equal to 1000000"),
        ("extend", "--timeout", "-5", "above 0 and at most 2,592,000 (30 days), got -5"),
        ("extend", "--timeout", "0", "above 0 and at most 2,592,000 (30 days), got 0"),
        ("extend", "--timeout", "2592001", "at most 2,592,000 (30 days), got 2592001"),
    ],
)
def test_an_option_out_of_the_apis_range_is_a_usage_error_naming_it(
    api: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    option: str,
    value: str,
    rule: str,
) -> None:
    study_id = api.post("/v1/studies", json=STUDY).json()["id"]
    assert api.post(f"/v1/studies/{study_id}/cancel").status_code == 200
    target = {"trials": [study_id], "extend": [study_id]}.get(command, [])
    if command == "extend" and option != "--trials" and option != "--to":
        target.extend(["--trials", "1"])

    result = cli_result(api, monkeypatch, *command.split(), *target, option, value)

    assert result.exit_code == 2, result.output
    said = " ".join(result.output.replace("│", " ").split())  # the box's borders left out
    assert f"Invalid value for '{option}'" in said and rule in said, said
    study = api.get(f"/v1/studies/{study_id}").json()
    assert (study["status"], study["definition"]["budget"]["n_trials"]) == ("cancelled", 3)


@pytest.mark.parametrize(
    ("command", "option", "value"),
    [
        ("ls", "--limit", "1"),
        ("ls", "--offset", "1000000"),
        ("trials", "--offset", "10000000"),
        ("datasets ls", "--limit", "1"),
    ],
)
def test_an_option_at_the_apis_bound_is_asked(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, command: str, option: str, value: str
) -> None:
    study_id = api.post("/v1/studies", json=STUDY).json()["id"]
    target = [study_id] if command == "trials" else []

    result = cli_result(api, monkeypatch, *command.split(), *target, option, value)

    assert result.exit_code == 0, result.output
