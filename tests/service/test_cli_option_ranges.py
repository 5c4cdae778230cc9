"""A number option out of its range is a usage error (exit 2) before anything is asked of the
API: ``report --watch --poll inf`` and ``watch --poll inf`` were an ``OverflowError`` traceback
from the clock, ``extend --timeout inf`` (or ``nan``) a ``ValueError`` from the JSON encoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.inprocess import cli_result
from tests.service.test_client_optuna import STUDY


@pytest.mark.parametrize(
    ("command", "option", "value", "rule"),
    [
        ("submit", "--poll", "inf", "less than or equal to 3600"),
        ("watch", "--poll", "inf", "less than or equal to 3600"),
        ("report", "--poll", "inf", "less than or equal to 3600"),
        ("report", "--poll", "3601", "less than or equal to 3600"),
        ("extend", "--timeout", "inf", "give a number of seconds, got inf"),
        ("extend", "--timeout", "nan", "give a number of seconds, got nan"),
    ],
)
def test_a_number_option_out_of_range_is_a_usage_error(
    api: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    command: str,
    option: str,
    value: str,
    rule: str,
) -> None:
    definition = tmp_path / "study.json"
    definition.write_text(json.dumps(STUDY | {"name": "submitted"}))
    study_id = api.post("/v1/studies", json=STUDY | {"name": "there"}).json()["id"]
    assert api.post(f"/v1/studies/{study_id}/cancel").status_code == 200  # a watch ends at once
    target = {
        "submit": [str(definition), "--watch"],
        "watch": [study_id],
        "report": [study_id, "-o", str(tmp_path / "report.html"), "--watch"],
        "extend": [study_id, "--trials", "1"],
    }[command]

    result = cli_result(api, monkeypatch, command, *target, option, value)

    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert f"Invalid value for '{option}'" in said and rule in said, said
    assert not (tmp_path / "report.html").exists()
    studies = api.get("/v1/studies").json()["items"]
    assert [(s["name"], s["status"], s["n_trials"]) for s in studies] == [("there", "cancelled", 3)]
