"""The CLI's tables outside a terminal (a pipe, a file, a CI log) are whole: every header and
every cell on one line, whatever the width, never squeezed to rich's default 80 columns
(``datasets ls`` used to show its headers as ``ta…``). On a terminal they fit its width, ids and
names kept whole (``regtune.service.cli.output.listing``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from regtune.service.cli.output import params
from tests.inprocess import Apps, cli_output, run_to_the_end
from tests.service.test_client_optuna import STUDY

ADMIN = "tables-admin-key-0123456789abcdef"
LONG = "a-name-long-enough-to-fill-half-of-eighty-columns"


def row(*cells: str) -> str:
    """Cells as one line of a table, whitespace collapsed as ``cli_output`` collapses it."""
    return "│ " + " │ ".join(cells) + " │"


def header(*names: str) -> str:
    return "┃ " + " ┃ ".join(names) + " ┃"


@pytest.fixture(autouse=True)
def eighty_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """The width rich gives output that is not a terminal, unless told otherwise."""
    monkeypatch.setenv("COLUMNS", "80")


def test_datasets_ls_is_whole(api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    csv = "a,b,the_value_to_predict\n" + "".join(f"{i},{i % 3},{i * 2}\n" for i in range(40))
    uploaded = api.post(
        "/v1/datasets",
        files={"file": (f"{LONG}.csv", csv.encode())},
        data={"target": "the_value_to_predict"},
    )
    assert uploaded.status_code == 201, uploaded.text
    dataset = uploaded.json()

    shown = cli_output(api, monkeypatch, "datasets", "ls")

    assert "…" not in shown, shown
    assert header("id", "name", "target", "task", "rows", "features", "uploaded (UTC)") in shown
    cells = (dataset["id"], dataset["name"], "the_value_to_predict", dataset["task"], "40", "2")
    assert row(*cells) in shown, shown


def test_datasets_ls_says_how_many_it_left_out(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With 505 datasets ``datasets ls`` showed 500 (the API's largest page) and said nothing of
    the other 5. As ``regtune ls``: the newest ``--limit`` (50), "50 of 505 datasets" under
    them, and a limit past the API's page is asked for page by page."""
    from datetime import timedelta

    from sqlalchemy import insert, select

    from regtune.service.store.db import transaction
    from regtune.service.store.tables import DatasetRow

    csv = "a,b,y\n" + "".join(f"{i},{i % 3},{i * 2}\n" for i in range(40))
    uploaded = api.post(
        "/v1/datasets", files={"file": ("d.csv", csv.encode())}, data={"target": "y"}
    )
    assert uploaded.status_code == 201, uploaded.text
    with transaction() as session:  # 504 copies of it, each a minute older than the last
        first = session.scalars(select(DatasetRow)).one()
        columns = {c.key: getattr(first, c.key) for c in DatasetRow.__table__.columns}
        session.execute(
            insert(DatasetRow),
            [
                columns
                | {
                    "id": f"copy{i:04d}",
                    "name": f"copy-{i}",
                    "created_at": first.created_at - timedelta(minutes=i),
                }
                for i in range(1, 505)
            ],
        )

    def rows(shown: str) -> int:
        return shown.count(" │ regression │ 40 │ 2 │ ")

    newest = cli_output(api, monkeypatch, "datasets", "ls")
    assert rows(newest) == 50 and "50 of 505 datasets" in newest, newest
    assert "copy-49 " in newest and "copy-50 " not in newest
    every = cli_output(api, monkeypatch, "datasets", "ls", "--limit", "1000")
    assert rows(every) == 505 and "copy-504 " in every and " of 505" not in every


def test_names_in_brackets_are_shown_as_uploaded(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A file, column or target named like rich markup (``[/x]``, ``[b]``) is text: the CLI
    used to stop on a MarkupError, or print ``[b]x`` as a bold ``x``."""
    data = tmp_path / "[b]bold.csv"
    data.write_text(
        "a,[b]x,[/x]\n" + "".join(f"{i},{'' if i % 5 == 0 else i % 3},{i * 2}\n" for i in range(40))
    )

    uploaded = cli_output(api, monkeypatch, "datasets", "upload", str(data), "--target", "[/x]")
    listed = cli_output(api, monkeypatch, "datasets", "ls")

    assert "missing values (filled from each training split): [b]x 8" in uploaded, uploaded
    assert "([b]bold.csv)" in uploaded, uploaded
    assert "│ [b]bold.csv │ [/x] │ regression │ 40 │ 2 │" in listed, listed


def test_ls_and_trials_are_whole(api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    created = api.post("/v1/studies", json=STUDY | {"name": LONG}).json()
    run_to_the_end(api, created["id"])

    listed = cli_output(api, monkeypatch, "ls")
    assert "…" not in listed, listed
    assert header("id", "name", "status", "done", "running", "created (UTC)") in listed
    assert row(created["id"], LONG, "completed", "3/3", "0") in listed, listed

    trials = cli_output(api, monkeypatch, "trials", created["id"])
    assert "…" not in trials, trials
    assert header("#", "state", "value", "non-zero", "epochs", "params") in trials
    for trial in api.get(f"/v1/studies/{created['id']}/trials").json()["items"]:
        assert f"│ {trial['number']} │ COMPLETE │" in trials, trials
        assert f" {params(trial['params'])} │" in trials, trials


def test_keys_ls_and_workers_are_whole(apps: Apps, monkeypatch: pytest.MonkeyPatch) -> None:
    from regtune.service.store.scheduling import workers

    api = apps(admin_key=ADMIN)
    key = api.post("/v1/keys", json={"tenant": LONG}, headers={"Authorization": f"Bearer {ADMIN}"})
    assert key.status_code == 201, key.text
    worker_id = f"{LONG}-4242-abcdef"
    workers.register(worker_id)

    keys = cli_output(api, monkeypatch, "keys", "ls", "--key", ADMIN)
    assert "…" not in keys, keys
    assert header("id", "tenant", "prefix", "created (UTC)", "revoked (UTC)") in keys
    assert row(key.json()["id"], LONG, key.json()["prefix"]) in keys, keys

    live = cli_output(api, monkeypatch, "workers", "--key", ADMIN)
    assert "…" not in live, live
    assert header("id", "host", "pid", "study", "trial", "last heartbeat (UTC)") in live
    assert f"│ {worker_id} │" in live and "│ - │ - │" in live, live


def test_trials_say_why_each_failed(apps: Apps, monkeypatch: pytest.MonkeyPatch) -> None:
    """A FAIL row showed no value, no epochs and no reason: the operator had to ask for
    --json to learn why. The reasons follow the table, one line each."""
    api = apps(objective_factory="tests.objectives:make_failing_objective")
    failing = STUDY | {"name": "diverges", "budget": {"n_trials": 3, "max_retries": 1}}
    created = api.post("/v1/studies", json=failing).json()
    assert run_to_the_end(api, created["id"])["status"] == "failed"

    shown = cli_output(api, monkeypatch, "trials", created["id"])
    failed = api.get(f"/v1/studies/{created['id']}/trials?state=FAIL").json()["items"]
    assert failed, shown
    for trial in failed:
        reason = "the training diverged (NaN or infinite values)"
        assert f"#{trial['number']} FAIL: {reason}" in shown, shown
        assert "(FloatingPointError: the trainer diverged)" in shown, shown


def test_a_diverged_trial_says_so_in_the_value_column(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A diverged trial is COMPLETE at ±inf, which the API's JSON carries as null: its row
    showed "-" for a value, as a trial that has none yet, not that it diverged."""
    import contextvars

    from regtune.worker.loop import Worker
    from tests.definitions import DIVERGING

    created = api.post("/v1/studies", json=DIVERGING).json()
    assert contextvars.copy_context().run(Worker().run, max_trials=1) == 1
    shown = cli_output(api, monkeypatch, "trials", created["id"])
    assert "│ 0 │ COMPLETE │ diverged │" in shown, shown
