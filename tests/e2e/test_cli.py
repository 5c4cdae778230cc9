"""The user's side through a real API and real workers: the CLI with live progress, the best
model out and back in (`regtune predict`), the dashboard listing it, and JSON logs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from regtune.service.spec.definition import StudySpec
from regtune.service.spec.resolve import resolve_task
from regtune.worker import data
from tests.support import ROOT, Processes, Stack, free_port, regtune, sqlite_stack, wait_for

EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def stack(module_processes: Processes) -> Stack:
    return sqlite_stack(module_processes, workers=2)


def cli(stack: Stack, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**stack.env, "REGTUNE_URL": stack.url, "COLUMNS": "160"}
    return subprocess.run(
        regtune(*args), env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def tiny(name: str, *, n_trials: int = 2, max_epochs: int = 3) -> dict[str, Any]:
    import yaml

    definition = yaml.safe_load((EXAMPLES / name).read_text())
    definition["budget"]["n_trials"] = n_trials
    definition["training"]["max_epochs"] = max_epochs
    return definition


@pytest.fixture(scope="module")
def watched(stack: Stack, module_processes: Processes) -> dict[str, Any]:
    """`regtune submit examples/diabetes-mlp.yaml --watch` (on a tiny budget) on a terminal, run
    to completion."""
    import yaml

    path = stack.tmp / "diabetes-mlp.yaml"
    definition = tiny("diabetes-mlp.yaml", n_trials=6, max_epochs=6)
    definition["refit_rows"] = "non_test"  # the saved model is the one the test metric measured
    path.write_text(yaml.safe_dump(definition))
    env = {**stack.env, "REGTUNE_URL": stack.url}
    code, output = module_processes.pty(regtune("submit", str(path), "--watch"), env)
    studies = httpx.get(f"{stack.url}/v1/studies", params={"status": "completed"}).json()
    study_id = next(s["id"] for s in studies["items"] if s["name"] == "diabetes-mlp")
    return {"code": code, "output": output, "study": stack.study(study_id)}


def test_submit_watch_renders_live_progress_and_exits_zero(watched: dict[str, Any]) -> None:
    output, study = watched["output"], watched["study"]
    assert watched["code"] == 0, output[-3000:]
    assert study["status"] == "completed"
    n = study["progress"]["n_trials"]
    assert study["progress"]["done"] == n
    assert f"{n}/{n}" in output  # the bar reached n of n
    for part in ("complete", "pruned", "failed", "best", "ETA", "━"):
        assert part in output, part
    assert "\x1b[" in output  # drawn live with terminal control sequences, not printed once
    assert f"#{study['best_trial']['number']}" in output  # the best trial so far, by number
    assert "Traceback" not in output


def test_best_model_download_and_predict_reproduce_the_reported_test_metric(
    stack: Stack, watched: dict[str, Any], tmp_path: Path
) -> None:
    study = watched["study"]
    best = study["best_trial"]
    model_path = tmp_path / "model.safetensors"
    result = cli(stack, "best", study["id"], "--download", str(model_path), "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["best_trial"]["number"] == best["number"]
    assert answer["best_model"]["trial"] == best["number"]
    assert model_path.stat().st_size == answer["best_model"]["bytes"]
    assert model_path.read_bytes()[:8] != b"\x80\x04\x95"  # safetensors, not a pickle

    spec = resolve_task(StudySpec.from_stored(study["definition"]))
    dataset = data.load(spec.dataset.model_dump(mode="json"))
    _, test = data.split_test(
        dataset, test_fraction=spec.validation.test_fraction, seed=spec.validation.split_seed
    )
    frame = pd.DataFrame(dataset.X[test], columns=dataset.feature_names)
    frame["target"] = dataset.y[test]
    csv = tmp_path / "test.csv"
    frame.to_csv(csv, index=False)

    result = cli(stack, "predict", "--model", str(model_path), str(csv), "--json")
    assert result.returncode == 0, result.stderr
    predicted = json.loads(result.stdout)
    assert predicted["rows"] == len(test)
    saved = answer["best_model"]
    reported = saved["test_metrics"]
    assert set(reported) == {"loss", "rmse", "r2"}
    for name, value in reported.items():
        # predict runs the model in float64 with numpy, the worker scored it in float32 with torch
        assert predicted["metrics"][name] == pytest.approx(value, rel=1e-6, abs=1e-9), name
    # the saved model is the refit on every non-test row; the trial keeps its own figures
    assert saved["refit"] is True and saved["refit_rows"] == "non_test"
    assert saved["train_rows"] == len(dataset.y) - len(test)
    assert saved["val_metrics"]["loss"] == pytest.approx(best["user_attrs"]["val_loss"])

    out = tmp_path / "pred.csv"
    result = cli(stack, "predict", "-m", str(model_path), str(csv), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert len(pd.read_csv(out)["prediction"]) == len(test)


def test_dashboard_with_the_same_artifact_store_lists_the_best_model(
    stack: Stack, watched: dict[str, Any], processes: Processes
) -> None:
    study = watched["study"]
    port = free_port()
    dashboard = processes.start(regtune("dashboard", "--port", str(port)), stack.env, "dash.log")
    try:
        base = f"http://127.0.0.1:{port}"
        # the study as it is now (the watch may end before the model is saved); two workers
        # could both save it (the finishing one, another's catch-up): one does, its record stands
        optuna_id = httpx.get(f"{stack.url}/v1/studies/{study['id']}").json()
        studies = wait_for(
            lambda: httpx.get(f"{base}/api/studies", timeout=5).json()["study_summaries"],
            timeout=120,
            what="dashboard up",
        )
        summary = next(s for s in studies if s["study_name"] == optuna_id["optuna_study_name"])
        detail = httpx.get(f"{base}/api/studies/{summary['study_id']}", timeout=30).json()
        artifact = optuna_id["best_model"]["artifact_id"]
        assert [a["artifact_id"] for a in detail["artifacts"]] == [artifact]
        body = httpx.get(f"{base}/artifacts/{summary['study_id']}/{artifact}", timeout=30)
        assert body.status_code == 200
        served = httpx.get(f"{stack.url}/v1/studies/{study['id']}/best-model", timeout=30)
        assert body.content == served.content
    finally:
        dashboard.stop()


def test_study_commands_and_json_output(stack: Stack, tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "enet.yaml"
    path.write_text(yaml.safe_dump({**tiny("diabetes-enet.yaml"), "name": "cli-json"}))
    created = cli(stack, "submit", str(path), "--json")
    assert created.returncode == 0, created.stderr
    study_id = json.loads(created.stdout)["id"]

    watched = cli(stack, "submit", str(path), "--json")  # same name: the API's 409, no traceback
    assert watched.returncode == 1
    assert "already exists" in watched.stderr and "Traceback" not in watched.stderr

    stack.wait_status(study_id)
    wait_for(lambda: stack.study(study_id)["best_model"], timeout=300, what="the best model")
    listed = json.loads(cli(stack, "ls", "--json").stdout)
    assert study_id in [s["id"] for s in listed["items"]]
    shown = json.loads(cli(stack, "show", study_id, "--json").stdout)
    assert shown["status"] == "completed" and shown["best_model"] is not None
    page = json.loads(cli(stack, "trials", study_id, "--json").stdout)
    assert page["total"] == len(page["items"]) == 2
    table = cli(stack, "trials", study_id)
    assert table.returncode == 0 and "COMPLETE" in table.stdout
    human = cli(stack, "show", study_id)
    assert "best trial #" in human.stdout and "best model" in human.stdout

    def narrow(*args: str) -> str:  # a pipe 40 columns wide
        env = {**stack.env, "REGTUNE_URL": stack.url, "COLUMNS": "40"}
        done = subprocess.run(regtune(*args), env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    shown_narrow = narrow("show", study_id)  # lines stay whole: a log reads them
    (saved,) = [line for line in shown_narrow.splitlines() if line.startswith("best model:")]
    assert saved.endswith(".safetensors") and "--download" in saved, shown_narrow
    assert study_id in narrow("ls")  # an id is never cut: the next command takes it

    missing = cli(stack, "show", "0123456789abcdef")
    assert missing.returncode == 1
    assert "no study with id" in missing.stderr and "Traceback" not in missing.stderr
    cancelled = cli(stack, "cancel", study_id)  # already completed: the API's conflict
    assert cancelled.returncode == 1 and "already completed" in cancelled.stderr
    removed = cli(stack, "rm", study_id, "--json")
    assert removed.returncode == 0 and json.loads(removed.stdout)["deleted"] is True
    assert httpx.get(f"{stack.url}/v1/studies/{study_id}").status_code == 404

    offline = cli(stack, "ls", "--url", f"http://127.0.0.1:{free_port()}")
    assert offline.returncode == 1
    assert "cannot reach" in offline.stderr and "Traceback" not in offline.stderr


def test_watch_json_reports_the_final_study_on_stdout(
    stack: Stack, tmp_path: Path, processes: Processes
) -> None:
    """`regtune submit --watch --json > out.json` in a terminal: the bar is drawn live on the
    terminal (stderr) and stdout holds only the final study, exactly as the API answers it."""
    import yaml

    path = tmp_path / "logistic.yaml"
    path.write_text(yaml.safe_dump({**tiny("breast-cancer-logistic.yaml"), "name": "cli-watch"}))
    env = {**stack.env, "REGTUNE_URL": stack.url}
    args = regtune("submit", str(path), "--watch", "--json", "--poll", "0.3")
    with (tmp_path / "out.json").open("wb") as out:
        code, terminal = processes.pty(args, env, stdout=out)
    assert code == 0, terminal[-3000:]
    final = json.loads((tmp_path / "out.json").read_text())  # pure JSON, nothing else
    assert final["status"] == "completed" and final["progress"]["done"] == 2
    assert final == stack.study(final["id"])
    assert "2/2" in terminal and "━" in terminal and "\x1b[" in terminal  # the live bar
    assert '"status"' not in terminal  # ... and no JSON on the terminal


def test_logs_are_json_lines_with_study_and_trial_ids(
    stack: Stack, watched: dict[str, Any]
) -> None:
    study_id = watched["study"]["id"]
    lines = [line for proc in stack.workers for line in proc.log().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line parses
    started = [r for r in records if r["msg"].startswith(f"study {study_id} trial")]
    assert started and all(r["study_id"] == study_id for r in started)
    assert all(isinstance(r["trial"], int) for r in started)
    optuna_lines = [r for r in records if r["logger"].startswith("optuna") and r["study_id"]]
    assert optuna_lines and all(r["trial"] is not None for r in optuna_lines)
    assert stack.api is not None
    api_records = [json.loads(line) for line in stack.api.log().splitlines() if line.strip()]
    requests = [r for r in api_records if r["logger"] == "regtune.access"]
    assert any(r["study_id"] == study_id for r in requests)


def test_python_client_readme_example(stack: Stack, tmp_path: Path) -> None:
    from regtune.service.client.errors import ApiError
    from regtune.service.client.http import Client

    with Client(stack.url) as rt:
        study = rt.submit({**tiny("diabetes-enet.yaml"), "name": "client-example"})
        done = rt.wait(study.id, poll=0.5, timeout=600)
        assert done.status == "completed" and done.best_trial is not None
        assert done.best_model is not None
        saved = rt.download_best_model(study.id, tmp_path / "m.safetensors")
        assert saved.stat().st_size == done.best_model.bytes
        # the client's models give back exactly the JSON the API sent
        assert done.model_dump(mode="json") == stack.study(study.id)
        with pytest.raises(ApiError) as caught:
            rt.submit({**tiny("diabetes-enet.yaml"), "name": "x", "budget": {"n_trials": 0}})
    assert caught.value.status == 422
    assert "budget.n_trials" in [f.path for f in caught.value.fields]
    assert sys.modules["regtune.service.client.http"].__doc__ is not None
