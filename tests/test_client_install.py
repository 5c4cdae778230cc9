"""``pip install .`` on a laptop (issue 25): the wheel installs one package, ``regtune``;
without extras it is the client and the CLI's client commands, with no torch and no server, and
it submits, watches, downloads and predicts against a running server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from regtune.service.spec.definition import StudySpec
from regtune.service.spec.resolve import resolve_task
from regtune.worker import data
from tests.packaging import ClientInstall
from tests.support import ROOT, Processes, Stack, in_pty, sqlite_stack

HEAVY = ("torch", "optuna", "sqlalchemy", "pandas", "sklearn", "fastapi", "uvicorn", "pyarrow")


def test_the_client_commands_import_nothing_of_the_server_even_when_installed() -> None:
    """In this environment (every extra installed), loading the CLI and the client imports
    none of the server's or the worker's packages: they are imported by the commands that
    need them."""
    probe = (
        "import sys, regtune, regtune.service.cli.app, regtune.service.client.watch; "
        "regtune.Client; "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_wheel_holds_only_the_regtune_package(client_install: ClientInstall) -> None:
    files = client_install.wheel_files()
    assert {f.split("/")[0] for f in files} == {"regtune", "regtune-0.1.0.dist-info"}
    for path in (
        "regtune/__init__.py",
        "regtune/py.typed",
        "regtune/service/cli/app.py",
        "regtune/service/store/migrations/env.py",
        "regtune/service/api/templates/report.html.j2",
        "regtune/worker/loop.py",
    ):
        assert path in files, path
    entry_points = next(f for f in files if f.endswith("entry_points.txt"))
    assert entry_points.startswith("regtune-0.1.0.dist-info/")


def test_a_client_install_has_neither_torch_nor_the_server(client_install: ClientInstall) -> None:
    missing = client_install.python(
        "import importlib.util as u; "
        f"print(','.join(m for m in {HEAVY!r} if u.find_spec(m) is not None))"
    )
    assert missing.returncode == 0 and missing.stdout.strip() == "", missing
    torch = client_install.python("import torch")
    assert torch.returncode == 1 and "No module named 'torch'" in torch.stderr
    loaded = client_install.python(
        "import sys, regtune; regtune.Client, regtune.ApiError; "
        "import regtune.service.cli.app; "
        "print(regtune.__file__); print(sorted({m.split('.')[0] for m in sys.modules}))"
    )
    assert loaded.returncode == 0, loaded.stderr
    where, modules = loaded.stdout.splitlines()
    assert Path(where).is_relative_to(client_install.venv), where
    assert "service" not in modules and "worker" not in modules
    for extra, command in (("worker", "serve"), ("worker", "worker"), ("server", "api")):
        answer = client_install.regtune(command, COLUMNS="200")
        assert answer.returncode == 2, answer
        hint = f"in a checkout of regtune, pip install '.[{extra}]'"
        assert hint in answer.stderr, answer.stderr


@pytest.fixture(scope="module")
def server(module_processes: Processes) -> Stack:
    """A server as a team runs it (this environment: every extra), one worker."""
    return sqlite_stack(module_processes, workers=1)


def test_submit_watch_best_and_predict_from_a_client_install(
    client_install: ClientInstall, server: Stack, tmp_path: Path
) -> None:
    definition = yaml.safe_load((ROOT / "examples" / "diabetes-enet.yaml").read_text())
    definition["budget"]["n_trials"] = 3
    definition["refit_rows"] = "non_test"  # the saved model is the one the test metric measured
    path = tmp_path / "diabetes-enet.yaml"
    path.write_text(yaml.safe_dump(definition))

    env = client_install.env(REGTUNE_URL=server.url)
    code, output = in_pty([client_install.bin("regtune"), "submit", str(path), "--watch"], env)
    assert code == 0, output[-3000:]
    assert "3/3" in output and "Traceback" not in output

    listed = json.loads(client_install.regtune("ls", "--json", REGTUNE_URL=server.url).stdout)
    (study,) = [s for s in listed["items"] if s["name"] == definition["name"]]
    model = tmp_path / "model.safetensors"
    best = client_install.regtune(
        "best", study["id"], "--download", str(model), "--json", REGTUNE_URL=server.url
    )
    assert best.returncode == 0, best.stderr
    reported: dict[str, Any] = json.loads(best.stdout)["best_model"]["test_metrics"]

    spec = resolve_task(StudySpec.from_stored(server.study(study["id"])["definition"]))
    dataset = data.load(spec.dataset.model_dump(mode="json"))
    _, test = data.split_test(
        dataset, test_fraction=spec.validation.test_fraction, seed=spec.validation.split_seed
    )
    rows = tmp_path / "test.csv"
    lines = [",".join([*dataset.feature_names, "target"])]
    lines += [
        ",".join([*(repr(float(v)) for v in x), repr(float(y))])
        for x, y in zip(dataset.X[test], dataset.y[test], strict=True)
    ]
    rows.write_text("\n".join(lines) + "\n")
    predicted = client_install.regtune("predict", str(rows), "--model", str(model), "--json")
    assert predicted.returncode == 0, predicted.stderr
    answer = json.loads(predicted.stdout)
    assert answer["rows"] == len(test)
    assert np.isfinite(answer["predictions"]["prediction"]).all()
    for name, value in reported.items():
        assert answer["metrics"][name] == pytest.approx(value, rel=1e-6, abs=1e-9), name
