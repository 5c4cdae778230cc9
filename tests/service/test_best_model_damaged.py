"""A model file changed in the artifact store after it was saved (cut short, grown, other bytes
of the same size) is never sent as the model: the download was a 200 with the record's
Content-Length and ETag over whatever the store held, so the connection broke off, the client
got no body, or it kept another file under the saved one's ETag. Now the file is read and checked
before the status line: a 500 ``model_file_damaged`` naming the study, the artifact, what
differs and what an operator can do, and a WARNING for the operator."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from regtune.service.cli import output
from regtune.service.cli.app import app
from regtune.service.settings import get_settings
from regtune.service.store.repos import model_files
from regtune.service.store.repos.model_files import STORE_RETRY_AFTER_S
from tests.service.test_best_model_store import in_process
from tests.service.test_report import finished_study
from tests.service.test_rest_contract import conforms

TEMPLATE = "/v1/studies/{study_id}/best-model"
DAMAGES: dict[str, Callable[[bytes], bytes]] = {
    "cut short": lambda saved: saved[:100],  # head -c 100 f.bak > the artifact
    "doubled": lambda saved: saved + saved,
    "other bytes, same size": lambda saved: saved[:-1] + bytes([saved[-1] ^ 0xFF]),
}


def saved_model(api: TestClient) -> tuple[str, dict[str, Any], Path]:
    """A completed study's id, its best-model record and its file in the artifact store."""
    row = finished_study("default", n=5)
    record = api.get(f"/v1/studies/{row.id}").json()["best_model"]
    return row.id, record, Path(get_settings().artifact_dir) / record["artifact_id"]


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_model_file_changed_in_the_store_is_a_500_never_sent_as_the_model(
    api: TestClient,
    damage: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    study_id, record, stored = saved_model(api)
    saved = stored.read_bytes()
    intact = api.get(f"/v1/studies/{study_id}/best-model")
    assert intact.status_code == 200 and intact.content == saved
    assert intact.headers["etag"] == f'"{record["sha256"]}"'
    stored.write_bytes(DAMAGES[damage](saved))

    with caplog.at_level(logging.WARNING):
        answers = [
            api.request(method, f"/v1/studies/{study_id}/best-model") for method in ("GET", "HEAD")
        ]
    schema = api.get("/openapi.json").json()
    for answer in answers:
        assert answer.status_code == 500, (answer.status_code, answer.headers)
        assert "etag" not in answer.headers and "retry-after" not in answer.headers
    conforms(schema, TEMPLATE, answers[0])
    error = answers[0].json()["error"]
    assert error["code"] == "model_file_damaged"
    message = error["message"]
    assert f"study {study_id!r} (artifact {record['artifact_id']}) is not the one saved" in message
    differs = (
        f"its SHA-256 is not the saved one, at the same size ({record['bytes']:,} bytes)"
        if damage == "other bytes, same size"
        else f"it holds {len(DAMAGES[damage](saved)):,} bytes where {record['bytes']:,} were saved"
    )
    assert differs in message
    assert "backup" in message and record["sha256"] in message
    assert str(get_settings().artifact_dir) not in message  # any tenant reads this
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 2 and all(differs in w and record["artifact_id"] in w for w in warned)

    held = {"If-None-Match": f'"{record["sha256"]}"'}  # the saved file, held: still the model's
    assert api.get(f"/v1/studies/{study_id}/best-model", headers=held).status_code == 304

    monkeypatch.setattr(output, "Client", in_process(api))
    path = tmp_path / "m.safetensors"
    result = CliRunner().invoke(app, ["best", study_id, "--download", str(path)])
    shown = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert "Traceback" not in shown and "error: 500 model_file_damaged" in shown
    assert differs in shown
    assert not path.exists() and not path.with_name(path.name + ".part").exists()


def test_an_intact_file_larger_than_the_copy_in_memory_downloads_whole_with_its_etag(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy checked goes on to disk past ``SPOOL_BYTES``: the file still goes byte for
    byte, with its size and ETag; a HEAD answers the same headers without a body."""
    monkeypatch.setattr(model_files, "SPOOL_BYTES", 64)
    study_id, record, stored = saved_model(api)
    assert record["bytes"] > 64

    answer = api.get(f"/v1/studies/{study_id}/best-model")
    assert answer.status_code == 200
    assert answer.content == stored.read_bytes()
    assert answer.headers["content-length"] == str(record["bytes"])
    assert answer.headers["etag"] == f'"{record["sha256"]}"'
    head = api.head(f"/v1/studies/{study_id}/best-model")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == answer.headers["etag"]


class FailsMidway:
    """A store's reader that gives the file's first bytes, then an I/O error."""

    def __init__(self, first: bytes) -> None:
        self.first: bytes | None = first

    def read(self, _: int = -1) -> bytes:
        if self.first is None:
            raise OSError(5, "Input/output error")
        first, self.first = self.first, None
        return first

    def __enter__(self) -> FailsMidway:
        return self

    def __exit__(self, *_: object) -> None:
        return None


def test_a_store_that_fails_while_the_file_is_read_is_a_503_to_retry(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a store that fails to open the file: 503 with Retry-After, not a 200 broken off."""
    study_id, _, stored = saved_model(api)
    monkeypatch.setattr(
        model_files, "open_artifact", lambda *_: FailsMidway(stored.read_bytes()[:8])
    )

    answer = api.get(f"/v1/studies/{study_id}/best-model")
    assert answer.status_code == 503, answer.status_code
    assert answer.headers["retry-after"] == str(STORE_RETRY_AFTER_S)
    error = answer.json()["error"]
    assert error["code"] == "artifact_store_unavailable"
    assert "failed to read the model file" in error["message"] and "OSError" in error["message"]
    assert study_id in error["message"]
