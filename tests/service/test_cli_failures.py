"""What the CLI blames when a command fails: the database only for the database's own errors,
and nothing at all when the reader of its output goes away (``regtune predict … | head -1``)."""

from __future__ import annotations

import errno
import io
import os
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

import regtune
from regtune.service.cli.failures import CLOSED_PIPE_STATUS, explain
from regtune.service.store.backoff import TRANSIENT, caused_by_database
from tests.service.test_client_optuna import STUDY, ThroughApp
from tests.support import ROOT, Processes, free_port, owned
from tests.support import regtune as regtune_command


def raised(action: object) -> Exception:
    try:
        action()  # type: ignore[operator]
    except Exception as exc:
        return exc
    raise AssertionError("it did not raise")


def test_a_timeout_waiting_for_a_study_is_not_blamed_on_the_database(api: TestClient) -> None:
    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as client:
        study = client.submit(STUDY)  # no worker: it stays queued
        timeout = raised(lambda: client.wait(study.id, timeout=0.01, poll=0.01))
    assert isinstance(
        timeout, TimeoutError
    ) and "did not end within 0.01s: last seen queued" in str(timeout)
    assert explain(timeout) is None
    assert isinstance(timeout, TRANSIENT)  # the worker's and the API's retries are unchanged


def test_an_http_error_from_a_refused_connection_is_not_blamed_on_the_database() -> None:
    """httpx's error is raised while handling the socket's ``ConnectionRefusedError``."""
    refused = raised(lambda: httpx.get(f"http://127.0.0.1:{free_port()}/", timeout=5))
    assert isinstance(refused, httpx.ConnectError)
    assert caused_by_database(refused)  # a ConnectionError in its chain: TRANSIENT's view
    assert explain(refused) is None


def test_a_closed_pipe_is_not_blamed_on_the_database() -> None:
    assert explain(BrokenPipeError(32, "Broken pipe")) is None


def test_the_database_s_own_error_is_still_said_in_one_line() -> None:
    outage = OperationalError("SELECT 1", {}, sqlite3.OperationalError("unable to open database"))
    explained = explain(outage)
    assert explained is not None
    [line], status = explained
    assert line.startswith("cannot reach the database at ") and status == 1
    assert "unable to open database" in line


@pytest.fixture(scope="module")
def model_and_rows(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A saved model and a table whose predictions (17,680 rows, ~330 kB of CSV, ~350 kB of
    JSON) are several times a pipe's buffer (64 kB): the command is still writing when the
    reader goes away, whenever it does."""
    from regtune.worker import data
    from tests.worker.test_predict_numpy import written

    where = tmp_path_factory.mktemp("pipe")
    model = written(where, "diabetes", {"kind": "linear"}, {"holdout": 0.2})
    dataset = data.load({"builtin": "diabetes"})
    frame = pd.DataFrame(dataset.X, columns=dataset.feature_names)
    rows = where / "rows.csv"
    pd.concat([frame] * 40, ignore_index=True).to_csv(rows, index=False)
    return model, rows


@pytest.mark.parametrize(
    ("extra", "read_first"),
    [((), True), (("--json",), False)],
    ids=["head -1", "json | true"],
)
def test_predict_into_a_pipe_closed_early_ends_quietly_with_sigpipe_s_status(
    processes: Processes,  # marks the test: it starts a process
    model_and_rows: tuple[Path, Path],
    extra: tuple[str, ...],
    read_first: bool,
) -> None:
    """As ``regtune predict … | head -1`` (read a line, then close) and ``… --json | true``
    (close before reading): no message, status 141, as a shell reports for ``seq 1e9 | head``."""
    model, rows = model_and_rows
    args = regtune_command("predict", "-m", str(model), str(rows), *extra)
    proc = subprocess.Popen(
        args, env=owned(None), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        if read_first:
            assert proc.stdout.readline() == b"prediction\n"
        proc.stdout.close()
        said = proc.stderr.read().decode()
        status = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert said == "", said
    assert status == CLOSED_PIPE_STATUS == 141


class ClosedPipe(io.StringIO):
    """An output whose reader has gone away."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


def test_a_table_into_a_closed_pipe_ends_as_predict_does(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rich's console would exit 1 on its own; ``regtune trials ID | head -1`` ends as
    ``regtune predict`` does."""
    from typer.testing import CliRunner

    from regtune.service.cli import output, studies
    from regtune.service.cli.app import app

    created = api.post("/v1/studies", json=STUDY).json()
    monkeypatch.setattr(
        output, "Client", lambda url, *, key=None: regtune.Client(url, transport=ThroughApp(api))
    )
    closed = output.CliConsole(file=ClosedPipe())
    for module in (output, studies):  # output's print_table prints the table
        monkeypatch.setattr(module, "console", closed)
    result = CliRunner().invoke(app, ["trials", created["id"], "--url", "http://regtune.test"])
    assert result.exit_code == CLOSED_PIPE_STATUS, result.output
    assert result.output == ""
