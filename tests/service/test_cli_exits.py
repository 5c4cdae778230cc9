"""The exit status a script acts on: ``regtune best ID && deploy`` deploys nothing when there
is no best trial, whatever the output's form; a file the command cannot write is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from regtune.service.cli.app import app
from tests.inprocess import cli_result
from tests.service.test_client_optuna import STUDY


def test_best_of_a_study_without_a_best_trial_fails_with_or_without_download(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Cancelled before any trial ran: ``best`` exits 1 as ``best --download`` does (it exited
    0 and printed the reason as if it were the answer)."""
    created = api.post("/v1/studies", json=STUDY | {"name": "nothing-done"}).json()  # no worker
    assert api.post(f"/v1/studies/{created['id']}/cancel").status_code == 200
    plain = cli_result(api, monkeypatch, "best", created["id"])
    assert plain.exit_code == 1, plain.output
    assert plain.stdout == ""  # the reason is an error, on stderr
    assert f"error: study {created['id']} has no completed trial (status cancelled)" in (
        " ".join(plain.output.split())
    )
    as_json = cli_result(api, monkeypatch, "best", created["id"], "--json")
    assert as_json.exit_code == 1, as_json.output
    assert json.loads(as_json.stdout)["best_trial"] is None  # still pure JSON on stdout
    model = tmp_path / "model.safetensors"
    downloaded = cli_result(api, monkeypatch, "best", created["id"], "--download", str(model))
    assert downloaded.exit_code == 1 and not model.exists(), downloaded.output


@pytest.mark.parametrize("where", ["missing-directory/predictions.csv", "."])
def test_predictions_that_cannot_be_written_are_one_line_not_a_traceback(
    tmp_path: Path, where: str
) -> None:
    """``regtune predict -o`` into a directory that does not exist, or onto a directory."""
    from regtune.worker import data
    from tests.worker.test_predict_numpy import written

    model = written(tmp_path, "diabetes", {"kind": "linear"}, {"holdout": 0.2})
    dataset = data.load({"builtin": "diabetes"})
    rows = tmp_path / "rows.csv"
    rows.write_text(
        ",".join(dataset.feature_names)
        + "\n"
        + "\n".join(",".join(map(str, row)) for row in dataset.X[:5].tolist())
        + "\n"
    )
    out = tmp_path / where
    result = CliRunner().invoke(app, ["predict", str(rows), "-m", str(model), "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    [line] = result.output.splitlines()
    assert line.startswith(f"error: cannot write the predictions to {out}"), line
