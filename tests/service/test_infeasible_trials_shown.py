"""``regtune trials`` of a study with ``objective.max_nonzero``: a trial over the limit is never
the best, whatever its value. Its row showed a plain value (``0.235334`` beside the reported best's
``0.247763``), so it looked better than the best; now the value says ``(over max_nonzero)``, as a
diverged trial's says ``diverged``, and the table still fits 80 columns."""

from __future__ import annotations

import optuna
import pytest
from fastapi.testclient import TestClient
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from regtune.service.store.scheduling.retries import get_storage
from tests.inprocess import cli_result
from tests.service.test_cli_widths import on_a_terminal, rows, table_lines
from tests.service.test_client_optuna import STUDY


def test_a_trial_over_max_nonzero_says_so_beside_its_value(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    definition = STUDY | {"name": "sparse", "objective": {"max_nonzero": 5}}
    created = api.post("/v1/studies", json=definition).json()  # no worker: trials added here
    study = optuna.load_study(study_name=created["optuna_study_name"], storage=get_storage())
    for value, nonzero in ((0.235334, 7), (0.247763, 5)):
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE,
                value=value,
                params={"lambda": 1e-3},
                distributions={"lambda": FloatDistribution(1e-4, 1.0, log=True)},
                user_attrs={"n_nonzero": nonzero, "feasible": nonzero <= 5},
            )
        )
    assert api.get(f"/v1/studies/{created['id']}").json()["best_trial"]["number"] == 1

    on_a_terminal(monkeypatch, 80)
    result = cli_result(api, monkeypatch, "trials", created["id"])
    assert result.exit_code == 0, result.output
    lines = table_lines(result.stdout)
    assert lines and all(len(line) <= 80 for line in lines), result.stdout
    by_number: dict[str, list[str]] = {}  # a wrapped row's cells joined, column by column
    for row in rows(result.stdout):
        if row[0]:
            by_number[row[0]] = row
        else:
            last = list(by_number.values())[-1]
            by_number[last[0]] = [f"{a} {b}".strip() for a, b in zip(last, row, strict=True)]
    assert by_number["0"][1:4] == ["COMPLETE", "0.235334 (over max_nonzero)", "7"], by_number
    assert by_number["1"][1:4] == ["COMPLETE", "0.247763", "5"], by_number
    assert "not shown" not in result.stdout
