"""The exit status a script acts on: ``regtune best ID && deploy`` deploys nothing when there
is no best trial, whatever the output's form; a file the command cannot write is one line."""

from __future__ import annotations

import contextvars
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from regtune.service.cli.app import app
from regtune.service.client.http import Client
from tests.inprocess import cli_output, cli_result, run_to_the_end
from tests.service.test_client_optuna import STUDY, ThroughApp


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


def test_best_of_a_cancelled_study_shows_its_best_trial_and_fails_for_want_of_a_model(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Cancelled after a trial completed: the best trial is printed (its parameters are the
    study's answer so far), but no model was saved, so ``best`` says why and exits 1, as
    ``--download`` does (it exited 0, as if a model could be deployed)."""
    from regtune.worker.loop import Worker

    created = api.post("/v1/studies", json=STUDY | {"name": "cancelled-after-one"}).json()
    assert contextvars.copy_context().run(Worker().run, max_trials=1) == 1
    assert api.post(f"/v1/studies/{created['id']}/cancel").status_code == 200
    plain = cli_result(api, monkeypatch, "best", created["id"])
    assert plain.exit_code == 1, plain.output
    assert "trial #0" in plain.stdout and "params: lambda=" in plain.stdout
    assert " ".join(plain.stderr.split()) == (
        f"error: study {created['id']} has no saved model: it was cancelled, and a model is "
        "saved only when a study completes; the trial shown is its best"
    )
    as_json = cli_result(api, monkeypatch, "best", created["id"], "--json")
    assert as_json.exit_code == 1, as_json.output
    answer = json.loads(as_json.stdout)
    assert answer["best_trial"]["number"] == 0 and answer["best_model"] is None
    assert "has no saved model" in as_json.stderr
    model = tmp_path / "model.safetensors"
    downloaded = cli_result(api, monkeypatch, "best", created["id"], "--download", str(model))
    assert downloaded.exit_code == 1 and not model.exists(), downloaded.output
    assert "has no saved model" in downloaded.stderr
    shown = cli_output(api, monkeypatch, "show", created["id"])
    assert "best trial #0" in shown and "best model: none; study" in shown


def test_a_model_saved_into_a_missing_directory_is_one_line_naming_the_path(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``best -d some/missing/dir/model.pt`` named its temporary ``.part`` file."""
    created = api.post("/v1/studies", json=STUDY | {"name": "saved-nowhere"}).json()
    done = run_to_the_end(api, created["id"])
    assert done["best_model"] is not None
    where = tmp_path / "some" / "missing" / "dir" / "model.pt"
    result = cli_result(api, monkeypatch, "best", created["id"], "-d", str(where))
    assert result.exit_code == 1, result.output
    assert ".part" not in result.stderr
    assert " ".join(result.stderr.split()) == (
        f"error: cannot save the best model to {where}: the directory {where.parent} does not exist"
    )
    assert not (tmp_path / "some").exists()
    saved = cli_result(api, monkeypatch, "best", created["id"], "-d", str(tmp_path / "m.pt"))
    assert saved.exit_code == 0 and (tmp_path / "m.pt").stat().st_size > 0, saved.output
    rt = Client("http://testserver", transport=ThroughApp(api))  # a directory, from Python
    with rt, pytest.raises(IsADirectoryError, match=f"to {tmp_path}: it is a directory"):
        rt.download_best_model(created["id"], tmp_path)
    assert not tmp_path.with_name(tmp_path.name + ".part").exists()


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


def test_a_report_written_into_a_missing_directory_is_one_line_naming_it(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``report -o missing/dir/report.html`` fetched the page, then printed Python's
    ``[Errno 2]`` line; it now says which directory is missing, before asking the API."""
    created = api.post("/v1/studies", json=STUDY | {"name": "reported-nowhere"}).json()
    where = tmp_path / "missing" / "report.html"
    result = cli_result(api, monkeypatch, "report", created["id"], "-o", str(where))
    assert result.exit_code == 1, result.output
    assert " ".join(result.stderr.split()) == (
        f"error: cannot save the report to {where}: the directory {where.parent} does not exist"
    )
    assert not where.parent.exists()


@pytest.mark.parametrize(("browser", "opened"), [("false", False), ("true", True)])
def test_report_open_without_a_browser_says_so(
    api: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    browser: str,
    opened: bool,
) -> None:
    """``report --open`` on a machine with no browser (over ssh, on a server) wrote the page and
    said nothing of the browser that never opened; it now says so (BROWSER names the command
    that opens a page: ``false`` is one that fails, ``true`` one that succeeds)."""
    import shutil
    import webbrowser

    command = shutil.which(browser)
    assert command is not None
    monkeypatch.setenv("BROWSER", command)
    monkeypatch.setenv("PATH", str(tmp_path / "no-browsers"))  # nor a console browser
    for display in ("DISPLAY", "WAYLAND_DISPLAY"):  # nor a graphical one
        monkeypatch.delenv(display, raising=False)
    monkeypatch.setattr(webbrowser, "_tryorder", None)  # find the browsers again, with BROWSER
    created = api.post("/v1/studies", json=STUDY | {"name": f"opened-{browser}"}).json()
    page = tmp_path / "report.html"
    result = cli_result(api, monkeypatch, "report", created["id"], "-o", str(page), "--open")
    assert result.exit_code == 0, result.output  # the page was written: what it says it does
    assert page.exists()
    said = " ".join(result.stderr.split())
    if opened:
        assert said == ""
    else:
        assert said == (
            f"warning: no web browser to open {page} with here; open it where one is (set "
            "BROWSER to choose one)"
        )


@pytest.mark.parametrize(
    ("command", "poll", "rule"),
    [
        ("submit", "0", "greater than or equal to 0.1"),
        ("report", "-1", "greater than or equal to 0.1"),
    ],
)
def test_a_poll_interval_too_short_is_a_usage_error(
    api: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    command: str,
    poll: str,
    rule: str,
) -> None:
    """``submit --watch --poll 0`` asked the API for the study in a tight loop (2,682 requests
    for a 10-second study); ``report --watch --poll -1`` was a traceback from ``time.sleep``."""
    definition = tmp_path / "study.json"
    definition.write_text(json.dumps(STUDY | {"name": "polled"}))
    created = api.post("/v1/studies", json=STUDY | {"name": "reported"}).json()
    target = [str(definition)] if command == "submit" else [created["id"], "-o", str(definition)]
    result = cli_result(api, monkeypatch, command, *target, "--watch", "--poll", poll)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--poll'" in result.output and rule in result.output
    assert [s["name"] for s in api.get("/v1/studies").json()["items"]] == ["reported"]


def test_the_client_refuses_to_wait_without_a_pause() -> None:
    from regtune.service.client.http import Client

    with Client("http://127.0.0.1:9") as rt, pytest.raises(ValueError, match="poll: must be a"):
        rt.wait("any", poll=0)


def test_an_id_is_one_path_segment_and_never_names_another_resource(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``datasets rm ../studies/ID`` sent ``DELETE /v1/studies/ID`` and deleted the study (and
    ``rm ../datasets/ID`` a dataset); ``show ../workers`` asked for the workers; ``show
    'ID?x=1'`` showed study ID. Each id is now escaped into one path segment: the API's 404."""
    created = api.post("/v1/studies", json=STUDY | {"name": "kept"}).json()
    study_id = created["id"]
    for args in (
        ("datasets", "rm", f"../studies/{study_id}"),
        ("rm", f"{study_id}/../{study_id}"),
        ("show", "../workers"),
        ("show", f"{study_id}?x=1"),
        ("show", f"{study_id}#x"),
        ("trials", ".."),
        ("cancel", "."),
        ("keys", "revoke", f"../studies/{study_id}"),
    ):
        result = cli_result(api, monkeypatch, *args)
        assert result.exit_code == 1, (args, result.output)
        assert result.stderr.startswith("error: 404 not_found"), (args, result.stderr)
    said = cli_result(api, monkeypatch, "show", f"{study_id}?x=1").stderr
    assert " ".join(said.split()) == f"error: 404 not_found: no study with id '{study_id}?x=1'"
    assert api.get(f"/v1/studies/{study_id}").json()["status"] == "queued"  # neither deleted
    assert cli_result(api, monkeypatch, "show", study_id).exit_code == 0  # nor cancelled


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("rm", ""), "study_id"),
        (("show", ""), "study_id"),
        (("trials", ""), "study_id"),
        (("cancel", ""), "study_id"),
        (("report", ""), "study_id"),
        (("best", ""), "study_id"),
        (("datasets", "rm", ""), "dataset_id"),
        (("keys", "revoke", ""), "key_id"),
    ],
)
def test_an_empty_id_is_a_usage_error_naming_the_argument(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], named: str
) -> None:
    """``rm ''`` sent ``DELETE /v1/studies/``, took the API's redirect for a success and said
    ``study  deleted``; ``show ''`` blamed the API's version."""
    result = cli_result(api, monkeypatch, *args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr == f"error: {named}: must be an id, not empty, got ''\n"


def test_a_redirect_is_no_success(tmp_path: Path) -> None:
    """A redirect (FastAPI's to the path without its trailing slash, a proxy's to https) is an
    error: ``delete`` returned as if the study were deleted, a download saved the redirect's
    body as the model."""
    import httpx

    from regtune.service.client.errors import ApiError

    def redirect(request: httpx.Request) -> httpx.Response:
        return httpx.Response(307, headers={"Location": "https://regtune.test/v1/studies"})

    model = tmp_path / "model.safetensors"
    with Client("http://regtune.test", transport=httpx.MockTransport(redirect)) as rt:
        for request in (
            lambda: rt.delete("s1"),
            lambda: rt.cancel("s1"),
            lambda: rt.download_best_model("s1", model),
        ):
            with pytest.raises(ApiError) as raised:
                request()
            assert raised.value.status == 307 and raised.value.code == "redirect"
            assert "redirect to https://regtune.test/v1/studies" in str(raised.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (["--key", "ключ"], {}, "--key: must be printable ASCII"),
        ([], {"REGTUNE_KEY": "ключ"}, "REGTUNE_KEY: must be printable ASCII"),
        (["--key", "s3cr3t\nline"], {}, "--key: must be printable ASCII"),
        (
            [],
            {"REGTUNE_URL": "http://[::1"},
            "REGTUNE_URL: must be an http:// or https:// URL with a host, such as "
            "http://127.0.0.1:8000, got 'http://[::1'",
        ),
        (
            ["--url", "http://127.0.0.1:abc"],
            {},
            "--url: must be an http:// or https:// URL with a host, such as "
            "http://127.0.0.1:8000, got 'http://127.0.0.1:abc'",
        ),
        ([], {"REGTUNE_URL": "127.0.0.1:8000"}, "REGTUNE_URL: must be an http:// or https://"),
    ],
)
def test_a_bad_url_or_key_is_one_line_naming_the_setting(
    args: list[str], env: dict[str, str], said: str
) -> None:
    """A key an HTTP header cannot carry was a ``UnicodeEncodeError`` traceback (non-ASCII) or
    blamed on the network (a line break); a URL httpx cannot parse an ``InvalidURL``
    traceback: all exit 1, as if the API had refused."""
    given = {"REGTUNE_URL": "http://127.0.0.1:9", "REGTUNE_KEY": None} | env
    result = CliRunner().invoke(app, ["ls", *args], env=given)
    assert result.exit_code == 2, result.output
    [line] = result.output.splitlines()
    assert line.startswith(f"error: {said}"), line
    assert "ключ" not in line and "s3cr3t" not in line  # a key is a secret: never shown


def test_the_client_refuses_a_url_or_key_it_cannot_send(monkeypatch: pytest.MonkeyPatch) -> None:
    from regtune.service.client.errors import InvalidArgument

    monkeypatch.delenv("REGTUNE_KEY", raising=False)
    with pytest.raises(InvalidArgument, match=r"^url: must be an http:// or https:// URL"):
        Client("http://[::1")
    with pytest.raises(ValueError, match=r"^key: must be printable ASCII"):
        Client("http://127.0.0.1:9", key="ключ")
    monkeypatch.setenv("REGTUNE_URL", "localhost:8000")
    with pytest.raises(InvalidArgument, match=r"^REGTUNE_URL: .*, got 'localhost:8000'$"):
        Client()


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://ana:s3cr3t@127.0.0.1:9", "error: cannot reach the regtune API at http://ana:***@"),
        ("http://ana:s3cr3t@127.0.0.1:abc", "error: REGTUNE_URL: must be an http:// or https://"),
    ],
)
def test_a_password_in_the_url_is_never_shown(url: str, said: str) -> None:
    """``http://user:password@host`` is a URL httpx sends (as basic auth): the CLI's one line
    about it named the password too."""
    result = CliRunner().invoke(app, ["ls"], env={"REGTUNE_URL": url, "REGTUNE_KEY": None})
    assert result.exit_code in (1, 2), result.output
    [line] = result.output.splitlines()
    assert line.startswith(said), line
    assert "s3cr3t" not in line and "ana:***@" in line
