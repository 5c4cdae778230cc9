"""A best model whose file is not in the API's artifact store (a worker on another host wrote it
to its own REGTUNE_ARTIFACT_DIR): the download is a JSON error that names the fix, never a 200
whose body breaks off; the report and the CLI carry on without a traceback."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from regtune.service.cli import output
from regtune.service.cli.app import app
from regtune.service.client.best_model import MODEL_TYPES
from regtune.service.client.errors import BrokenDownload
from regtune.service.client.http import Client
from regtune.service.settings import get_settings
from regtune.service.store.repos import cancel_and_delete, model_files
from regtune.service.store.repos.model_files import STORE_RETRY_AFTER_S
from tests.inprocess import run_to_the_end
from tests.service.test_client_optuna import STUDY
from tests.service.test_report import finished_study

SHARE = "The API and the workers must share one artifact store"


def in_process(api: TestClient) -> Any:
    """``output.Client`` answered by the app in this process, streaming as over a socket."""

    def client(url: str | None, *, key: str | None = None, **_: Any) -> Client:
        return Client("http://testserver", key=key, transport=api._transport)

    return client


def test_a_model_file_missing_from_the_api_store_is_a_404_naming_the_shared_store(
    api: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = api.post("/v1/studies", json=STUDY | {"name": "elsewhere"}).json()
    study = run_to_the_end(api, created["id"])
    artifact_id = study["best_model"]["artifact_id"]
    assert api.get(f"/v1/studies/{study['id']}/best-model").content[:8]  # saved and served
    (Path(get_settings().artifact_dir) / artifact_id).unlink()  # as another host's store

    answer = api.get(f"/v1/studies/{study['id']}/best-model")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/json"
    code, message = answer.json()["error"]["code"], answer.json()["error"]["message"]
    assert code == "not_found"
    assert artifact_id in message and "not in this API's artifact store" in message
    assert SHARE in message and "REGTUNE_ARTIFACT_DIR" in message

    report = api.get(f"/v1/studies/{study['id']}/report")
    assert report.status_code == 200 and 'id="status">completed' in report.text

    monkeypatch.setattr(output, "Client", in_process(api))
    saved = tmp_path / "m.safetensors"
    result = CliRunner().invoke(app, ["best", study["id"], "--download", str(saved)])
    shown = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in shown and "cannot reach" not in shown
    assert "error: 404 not_found" in shown and artifact_id in shown and SHARE in shown
    assert not saved.exists() and not saved.with_name(saved.name + ".part").exists()


def test_a_store_that_fails_to_open_the_file_is_a_503_to_retry(api: TestClient) -> None:
    """Not a missing file but a store that fails (here an I/O error: a directory where the file
    was; on S3 access denied or an unreachable endpoint): 503 with Retry-After, the store's
    setting named but not its directory (the caller is any tenant), and the report still served
    without the model's facts."""
    created = api.post("/v1/studies", json=STUDY | {"name": "store-fails"}).json()
    study = run_to_the_end(api, created["id"])
    artifact_id = study["best_model"]["artifact_id"]
    stored = Path(get_settings().artifact_dir) / artifact_id
    stored.unlink()
    stored.mkdir()  # opening it for reading is an OSError (IsADirectoryError), as root too

    answer = api.get(f"/v1/studies/{study['id']}/best-model")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == str(STORE_RETRY_AFTER_S)
    error = answer.json()["error"]
    assert error["code"] == "artifact_store_unavailable"
    assert "REGTUNE_ARTIFACT_DIR" in error["message"] and "IsADirectoryError" in error["message"]
    assert str(get_settings().artifact_dir) not in error["message"]  # any tenant reads this
    assert study["id"] in error["message"]
    report = api.get(f"/v1/studies/{study['id']}/report")
    assert report.status_code == 200 and 'id="status">completed' in report.text


def test_a_report_built_while_its_study_is_deleted_says_nothing_of_a_shared_store(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The study deleted between the report's reads and its reading of the model file: the
    file was removed with it, not written to another store, and the warning that the API and
    the workers must share one was a false alarm; a file the study still names and the store
    lacks is still warned of."""
    deleted, elsewhere = finished_study("default", n=5), finished_study("default", n=5)
    gone, missing = (
        api.get(f"/v1/studies/{row.id}").json()["best_model"]["artifact_id"]
        for row in (deleted, elsewhere)
    )
    opened = model_files.open_artifact

    def deleted_meanwhile(artifact_id: str, settings: Any = None) -> Any:
        if artifact_id == gone:
            cancel_and_delete.delete(deleted.id)
        return opened(artifact_id, settings)

    (Path(get_settings().artifact_dir) / missing).unlink()  # as another host's store
    monkeypatch.setattr(model_files, "open_artifact", deleted_meanwhile)
    with caplog.at_level(logging.DEBUG, logger="regtune.service.api.report"):
        for row in (deleted, elsewhere):
            assert api.get(f"/v1/studies/{row.id}/report").status_code == 200
    assert api.get(f"/v1/studies/{deleted.id}").status_code == 404
    assert not (Path(get_settings().artifact_dir) / gone).exists()
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warned == [
        f"the model file {missing} is not in this process's artifact store: the API and the "
        "workers must share one"
    ]


def test_a_download_while_its_study_is_deleted_is_a_404_that_says_so_without_a_warning(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The study deleted between the download's read of its record and its opening of the file:
    the file was removed with it, not written to another store (was: a 404 telling the operator
    to share one artifact store, and a WARNING saying so, a false alarm)."""
    deleted = finished_study("default", n=5)
    gone = api.get(f"/v1/studies/{deleted.id}").json()["best_model"]["artifact_id"]
    opened = model_files.open_artifact

    def deleted_meanwhile(artifact_id: str, settings: Any = None) -> Any:
        cancel_and_delete.delete(deleted.id)
        return opened(artifact_id, settings)

    monkeypatch.setattr(model_files, "open_artifact", deleted_meanwhile)
    with caplog.at_level(logging.WARNING):
        answer = api.get(f"/v1/studies/{deleted.id}/best-model")
    assert answer.status_code == 404, answer.text
    assert (
        "was removed while it was read (the study was deleted, or a newer model saved)"
        in (answer.json()["error"]["message"])
    )
    assert not [r for r in caplog.records if "artifact store" in r.getMessage()]
    assert not (Path(get_settings().artifact_dir) / gone).exists()


def test_deleting_a_study_removes_its_model_file(api: TestClient) -> None:
    """The model holds what it learned from the tenant's data (its categories, classes and fill
    values): deleting the study removes it from the artifact store, not only from the API."""
    created = api.post("/v1/studies", json=STUDY | {"name": "deleted-with-its-model"}).json()
    study = run_to_the_end(api, created["id"])
    stored = Path(get_settings().artifact_dir) / study["best_model"]["artifact_id"]
    assert stored.is_file()

    assert api.delete(f"/v1/studies/{study['id']}").status_code == 204

    assert api.get(f"/v1/studies/{study['id']}/best-model").status_code == 404
    assert not stored.exists()


class BreaksOff(httpx.SyncByteStream):
    def __iter__(self) -> Iterator[bytes]:
        yield b"\x10\x00\x00\x00"
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


def test_a_download_the_server_breaks_off_saves_nothing_and_says_so(tmp_path: Path) -> None:
    def answer(_: httpx.Request) -> httpx.Response:
        headers = {"Content-Length": "4268", "Content-Type": MODEL_TYPES[0]}
        return httpx.Response(200, headers=headers, stream=BreaksOff())

    saved = tmp_path / "m.safetensors"
    client = Client("http://regtune.test", transport=httpx.MockTransport(answer))
    with client, pytest.raises(BrokenDownload, match="after 4 of 4268 bytes"):
        client.download_best_model("s1", saved)
    assert list(tmp_path.iterdir()) == []


def test_a_study_whose_every_trial_was_pruned_says_once_why_it_has_no_model(
    api: TestClient,
) -> None:
    """An MLP study whose pruner stopped every trial (a threshold no epoch meets) completes with
    no model; the 404 of its download says why in one sentence, not "no best model: no best
    model: …"."""
    import contextvars
    import threading
    import time

    from regtune.worker.loop import Worker

    definition = {
        "name": "all-pruned",
        "dataset": {"builtin": "breast_cancer"},
        "model": {"kind": "mlp", "hidden_layers": [4]},
        "search_space": {"lambda": {"low": 1e-4, "high": 1e-2, "log": True}, "dropout": 0.1},
        "training": {"max_epochs": 3, "fused_trials": 1},
        "sampler": {"type": "random", "seed": 0},
        "pruner": {"type": "threshold", "upper": 1e-9},
        "budget": {"n_trials": 2, "max_parallel": 1},
    }
    created = api.post("/v1/studies", json=definition)
    assert created.status_code == 201, created.text
    worker = Worker()
    thread = threading.Thread(target=contextvars.copy_context().run, args=(worker.run,))
    thread.start()
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            study = api.get(f"/v1/studies/{created.json()['id']}").json()
            if study["status"] == "completed" and study["error"]:
                break
            time.sleep(0.2)
    finally:
        worker.stopping.set()
        thread.join(timeout=60)
    assert study["counts"]["PRUNED"] == 2 and study["best_model"] is None, study
    download = api.get(f"/v1/studies/{study['id']}/best-model")
    assert download.status_code == 404
    message = download.json()["error"]["message"]
    assert message.count("no best model") == 1, message
    assert "no COMPLETE trial" in message
