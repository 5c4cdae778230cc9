"""``regtune trials`` says what ``show`` and the watch say: a study of one trial ended "1 of 1
trials", and the values of several objectives were ``57.9955, 10`` under one "value" header,
where ``show`` and the watch name each (``val_rmse=57.974 n_inputs=10``)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.inprocess import cli_result, run_to_the_end
from tests.service.test_cli_widths import on_a_terminal, rows, table_lines
from tests.service.test_rest_contract import definition


@pytest.mark.parametrize("width", [80, 120])
def test_trials_names_each_objective_and_its_table_fits(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    front = {"objectives": ["val_rmse", "n_inputs"], "pruner": {"type": "none"}}
    study = api.post("/v1/studies", json=definition("front", 3) | front).json()
    run_to_the_end(api, study["id"])
    trials = api.get(f"/v1/studies/{study['id']}/trials").json()["items"]
    on_a_terminal(monkeypatch, width)

    result = cli_result(api, monkeypatch, "trials", study["id"])

    assert result.exit_code == 0, result.output
    assert all(len(line) <= width for line in table_lines(result.stdout)), result.stdout
    cells = " ".join(" ".join(row) for row in rows(result.stdout))
    for t in trials:
        rmse, inputs = t["values"]
        assert f"val_rmse={rmse:.6g}" in cells and f"n_inputs={inputs:.6g}" in cells, cells
    assert ", " not in cells.split("val_rmse=", 1)[1].split("n_inputs=", 1)[0], cells
    assert result.stdout.split("\n")[-2] == "3 of 3 trials", result.stdout


def test_a_study_of_one_trial_counts_it_in_the_singular(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = api.post("/v1/studies", json=definition("single", 1)).json()
    run_to_the_end(api, study["id"])

    result = cli_result(api, monkeypatch, "trials", study["id"])
    listed = cli_result(api, monkeypatch, "ls", "--offset", "1")

    assert result.exit_code == 0 and listed.exit_code == 0, result.output + listed.output
    assert result.stdout.rstrip().endswith("\n1 of 1 trial"), result.stdout
    assert listed.stdout.rstrip().endswith("\n0 of 1 study"), listed.stdout
